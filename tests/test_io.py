import json

import pytest

from genrm.io import DataError, iter_csv, iter_json_array, iter_jsonl, load_rows, require, require_int, require_text


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
