import json

import pytest

from genrm.data.rows import DataError, iter_csv, iter_json_array, iter_jsonl, load_rows, require, require_int, require_text


def test_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2\n')
    it = iter_jsonl(str(p))
    assert next(it) == (f"{p}:1", {"a": 1})
    with pytest.raises(DataError, match=rf"{p}:3: malformed JSON"):
        next(it)


def test_jsonl_non_object(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"x.jsonl:1: expected a JSON object, got list"):
        list(iter_jsonl(str(p)))


def test_missing_file():
    with pytest.raises(DataError, match="file not found"):
        list(iter_jsonl("/nonexistent/file.jsonl"))


def test_csv_ragged_row_names_line(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text('a,b\n1,2\n"multi\nline",3\n4,5,6\n')
    rows = iter_csv(str(p))
    assert next(rows) == (f"{p}:2", {"a": "1", "b": "2"})
    assert next(rows) == (f"{p}:3", {"a": "multi\nline", "b": "3"})
    with pytest.raises(DataError, match=r"x.csv:5: has 3 columns, the header has 2"):
        next(rows)


def test_csv_empty(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("")
    with pytest.raises(DataError, match="empty CSV"):
        list(iter_csv(str(p)))


def test_json_array_and_fallback(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"x": 1}, {"x": 2}]))
    assert [w for w, _ in iter_json_array(str(p))] == [f"{p}[0]", f"{p}[1]"]
    q = tmp_path / "b.json"
    q.write_text('{"x": 1}\n{"x": 2}\n')
    assert [r["x"] for _, r in iter_json_array(str(q))] == [1, 2]
    bad = tmp_path / "c.json"
    bad.write_text('[{"x": 1},')
    with pytest.raises(DataError, match="c.json: malformed JSON"):
        list(iter_json_array(str(bad)))


def test_load_rows_dir_and_unknown(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n')
    (tmp_path / "b.jsonl").write_text('{"x": 2}\n')
    assert [r["x"] for _, r in load_rows(str(tmp_path))] == [1, 2]
    with pytest.raises(DataError, match="path not found and not a hub id"):
        list(load_rows(str(tmp_path / "nope.jsonl")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .jsonl"):
        list(load_rows(str(tmp_path / "empty")))


def test_require_helpers():
    row = {"a": "", "b": "7", "c": 3, "d": [1]}
    with pytest.raises(DataError, match=r"f:1: field 'z': is missing"):
        require(row, "z", "f:1")
    with pytest.raises(DataError, match=r"field 'a': should be a non-empty string"):
        require_text(row, "a", "f:1")
    assert require_int(row, "b", "f:1") == 7
    with pytest.raises(DataError, match=r"field 'c': should be one of \(0, 1\)"):
        require_int(row, "c", "f:1", allowed=(0, 1))
    with pytest.raises(DataError, match=r"field 'd': should be str"):
        require(row, "d", "f:1", str)


def test_not_utf8_names_line_and_byte_offset(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:2: not UTF-8 text: byte 0xe9 at byte offset 19 \(line 2, column 11\)"):
        list(iter_jsonl(str(p)))
    c = tmp_path / "x.csv"
    c.write_bytes(b"a,b\n1,2\n3,\xff\n")
    with pytest.raises(DataError, match=r"x.csv:3: not UTF-8 text: byte 0xff at byte offset 10 \(line 3, column 3\)"):
        list(iter_csv(str(c)))
    j = tmp_path / "x.json"
    j.write_bytes(b'[{"a": 1},\n {"a": "\xc3"}]')
    with pytest.raises(DataError, match=r"x.json:2: not UTF-8 text: byte 0xc3 at byte offset 19"):
        list(iter_json_array(str(j)))


def test_nul_characters_are_errors_naming_the_field(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": "fine", "b": {"c": ["ok", "x\\u0000y"]}}\n')
    with pytest.raises(DataError, match=r"x.jsonl:1: field 'b.c.1': contains a NUL character"):
        list(iter_jsonl(str(p)))
    p.write_text('{"a": "a literal backslash-u0000 is fine: \\\\u0000"}\n')
    assert [r for _, r in iter_jsonl(str(p))] == [{"a": "a literal backslash-u0000 is fine: \\u0000"}]
    c = tmp_path / "x.csv"
    c.write_bytes(b"a,b\n1,2\x00\n")
    with pytest.raises(DataError, match=r"x.csv:2: contains a NUL byte \(column 4\)"):
        list(iter_csv(str(c)))


def test_byte_order_mark_and_deep_nesting(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')
    assert [r for _, r in iter_jsonl(str(p))] == [{"a": 1}]
    c = tmp_path / "bom.csv"
    c.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")
    assert [r for _, r in iter_csv(str(c))] == [{"a": "1", "b": "2"}]
    d = tmp_path / "deep.jsonl"
    d.write_text('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    with pytest.raises(DataError, match=r"deep.jsonl:1: JSON nested too deeply to read"):
        list(iter_jsonl(str(d)))


def test_require_int_rejects_bools_and_floats():
    with pytest.raises(DataError, match=r"f:1: field 'label': should be an integer, got true"):
        require_int({"label": True}, "label", "f:1")
    with pytest.raises(DataError, match=r"field 'label': should be an integer, got 1.0"):
        require_int({"label": 1.0}, "label", "f:1")
    assert require_int({"label": "2"}, "label", "f:1") == 2  # CSV cells are text
