"""Bad input to the data build and its HTTP backend, as a user types it: every case ends in
exit code 2 and one `error:` line that names the file, line and field (or the recipe key,
or the URL and the root cause), no traceback, and nothing in the workspace written or lost
(a previous build, the current directory, a foreign directory, the data files)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import socket
from pathlib import Path

import pytest

from genrm.outputs import MARKER, verify_output
from genrm.testing import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NO_KEY = "GENRM_TEST_BAD_INPUTS_NO_KEY"


def _main():
    spec = importlib.util.spec_from_file_location("data_prep_build", REPO / "data_prep" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        out[key + ("/" if p.is_dir() else "")] = "" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _pairs(n: int, tag: str = "q") -> str:
    return "".join(json.dumps({"prompt": f"{tag} {i}?", "chosen": f"right {i}", "rejected": f"wrong {i}"}) + "\n"
                   for i in range(n))


def _bbq_row(shared_data: Path, **change) -> str:
    """The first real BBQ item, with some fields changed."""
    row = json.loads((shared_data / "bbq" / "Age.jsonl").read_text().splitlines()[0])
    row.update(change)
    return json.dumps(row) + "\n"


@pytest.fixture(scope="module")
def ws(tmp_path_factory, shared_data):
    """The workspace: data files (good and bad), a previous build, a foreign directory, a
    directory of another job kind, a repository root, a home, and the current directory."""
    w = tmp_path_factory.mktemp("ws")
    d = w / "data"
    d.mkdir()
    (d / "good.jsonl").write_text(_pairs(12))
    (d / "malformed.jsonl").write_text(_pairs(1) + '{"prompt": "b?", "chosen": \n')
    (d / "missing.jsonl").write_text(_pairs(1) + '{"prompt": "b?", "chosen": "x"}\n')
    (d / "wrongtype.jsonl").write_text('{"prompt": "a?", "chosen": 5, "rejected": "y"}\n')
    (d / "empty.jsonl").write_text("\n")
    (d / "ragged.csv").write_text('prompt,chosen,rejected\n"a?",x,y\n"b?",x,y,z\n')
    (d / "msgs.jsonl").write_text(json.dumps({
        "chosen": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}],
        "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}) + "\n")
    (d / "latin1.jsonl").write_bytes(_pairs(1).encode() + '{"prompt": "caf\xe9?", "chosen": "x", "rejected": "y"}\n'.encode("latin-1"))
    (d / "latin1.csv").write_bytes('prompt,chosen,rejected\n"a?",x,y\n"caf\xe9?",x,y\n'.encode("latin-1"))
    (d / "nul_escaped.jsonl").write_text(_pairs(2) + '{"prompt": "a?", "chosen": "x\\u0000y", "rejected": "y"}\n')
    (d / "nul_raw.jsonl").write_bytes(_pairs(1).encode() + b'{"prompt": "a\x00?", "chosen": "x", "rejected": "y"}\n')
    (d / "deep.jsonl").write_text('{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (d / "array.json").write_text('[{"prompt": "a?", "chosen": "x", "rejected": "y"},\n {"prompt": "b?", "chosen": }]\n')
    (d / "bbq_bool").mkdir()
    (d / "bbq_bool" / "Age.jsonl").write_text(_bbq_row(shared_data, label=True))
    (d / "bbq_float").mkdir()
    (d / "bbq_float" / "Age.jsonl").write_text(_bbq_row(shared_data, label=1.0))
    (w / "recipes").mkdir()
    (w / "recipes" / "list.yaml").write_text("- name: generic\n- name: bbq\n")
    (w / "recipes" / "interp.yaml").write_text("name: x\noutput_dir: out/${nope}\n")
    (w / "recipes" / "broken.yaml").write_text("name: [x\n")
    (w / "recipes" / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (w / "recipes" / "typo.yaml").write_text(f"name: x\nsede: 1\nsources:\n  - name: generic\n    path: {d}/good.jsonl\n")
    (w / "recipes" / "typo_nested.yaml").write_text(
        f"units:\n  methd: rule\nsources:\n  - name: generic\n    path: {d}/good.jsonl\n")
    (w / "recipes" / "typo_source.yaml").write_text(
        f"sources:\n  - name: generic\n    path: {d}/good.jsonl\n    wieght: 2\n")
    (w / "work").mkdir()
    (w / "work" / "notes.txt").write_text("the user's own file")
    (w / "foreign" / "2024").mkdir(parents=True)
    (w / "foreign" / "2024" / "a.jpg").write_bytes(b"\xff\xd8 a photo")
    (w / "trainrun").mkdir()
    (w / "trainrun" / MARKER).write_text(json.dumps({"kind": "train"}))
    (w / "trainrun" / "ckpt.bin").write_bytes(b"weights")
    (w / "repo").mkdir()
    (w / "repo" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (w / "home").mkdir()
    (w / "file.txt").write_text("not a directory")
    assert _main()([f"output_dir={w}/prev", f"sources=[{{name: generic, path: {d}/good.jsonl}}]"]) == 0
    verify_output(str(w / "prev"), "data")
    return w


@pytest.fixture(scope="module")
def servers():
    with FakeOpenAIServer(default="1. The answer checks the case of the input string carefully.",
                          api_key="sk-right-key") as auth, \
         FakeOpenAIServer(default="1. fine", latency=1.0) as slow, \
         FakeOpenAIServer(default="1. The answer checks the case of the input string carefully.") as ok:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        s.close()  # nothing listens there now
        yield {"auth": auth, "slow": slow, "ok": ok, "closed": closed}


GOOD = "{ws}/data/good.jsonl"
SRC = "sources=[{name: generic, path: {path}}]"
HS3 = str(FIXTURES / "helpsteer3" / "train.jsonl")
LLM = ["sources=[{name: helpsteer3, path: " + HS3 + "}]", "units.method=llm",
       "units.backend={kind: openai, base_url: 'http://127.0.0.1:1/v1', model: fake-judge, "
       "api_key_env: " + NO_KEY + ", max_retries: 0, backoff: 0}"]


def src(path: str) -> str:
    return SRC.replace("{path}", path)


# (case id, arguments, what the one error line must say). "{ws}", "{ok}", "{auth}", "{slow}"
# and "{closed}" are filled in: the workspace, the fake servers' URLs, a closed port.
CASES = [
    # ---- the recipe file
    ("unknown key in file", ["recipe={ws}/recipes/typo.yaml"], r"unknown key 'sede' \(did you mean 'seed'\?\)"),
    ("unknown nested key in file", ["recipe={ws}/recipes/typo_nested.yaml"],
     r"unknown key 'units.methd' \(did you mean 'units.method'\?\)"),
    ("unknown source key in file", ["recipe={ws}/recipes/typo_source.yaml"],
     r"unknown key 'sources.0.wieght' \(did you mean 'sources.0.weight'\?\)"),
    ("recipe is a directory", ["recipe={ws}/recipes"], r"recipe .*/recipes is a directory, not a YAML file"),
    ("recipe is a list", ["recipe={ws}/recipes/list.yaml"], r"list.yaml: a recipe must be a mapping of keys, not a list"),
    ("recipe interpolation", ["recipe={ws}/recipes/interp.yaml"], r"interp.yaml: .*output_dir.*nope"),
    ("recipe invalid yaml", ["recipe={ws}/recipes/broken.yaml"], r"broken.yaml:2: invalid YAML"),
    ("recipe not utf-8", ["recipe={ws}/recipes/latin1.yaml"], r"latin1.yaml: not UTF-8 text \(byte 9\)"),
    ("recipe missing", ["recipe={ws}/recipes/nope.yaml"], r"recipe not found: .*nope.yaml"),
    # ---- overrides and types
    ("empty key", ["=5"], r"argument '=5' has an empty key"),
    ("not key=value", ["overwrite"], r"argument 'overwrite' is not key=value"),
    ("sources=5", ["sources=5"], r"key 'sources' must be a list, got 5"),
    ("index out of range", [src(GOOD), "sources.5.x=1"], r"override sources.5.x: index 5 is out of range"),
    ("seed=abc", [src(GOOD), "seed=abc"], r"key 'seed' must be an int, got 'abc'"),
    ("overwrite=nope", [src(GOOD), "overwrite=nope"], r"key 'overwrite' must be a bool \(true or false\), got 'nope'"),
    ("max_records=true", [src(GOOD), "sources.0.max_records=true"], r"key 'sources.0.max_records' must be an int, got True"),
    ("top-level max_records", [src(GOOD), "max_records=true"], r"unknown key 'max_records' \(did you mean 'total_records'\?\)"),
    ("total_records=0", [src(GOOD), "total_records=0"], r"key 'total_records' must be a positive integer, got 0"),
    ("eval_fraction=1.5", [src(GOOD), "eval_fraction=1.5"], r"key 'eval_fraction' must be in \[0, 1\), got 1.5"),
    ("bogus units.method, no free text", [src(GOOD), "units.method=bogus"],
     r"key 'units.method' is 'bogus'; must be one of 'rule', 'llm', 'none'"),
    ("min_units above max_units", [src(GOOD), "units.min_units=9"], r"'units.min_units' and 'units.max_units' need 1 <= min <= max"),
    ("llm without backend", [src(GOOD), "units.method=llm"], r"units.method=llm needs units.backend"),
    ("unknown source", ["sources=[{name: bbqq, path: x}]"], r"key 'sources.0.name': unknown source 'bbqq' \(did you mean 'bbq'\?\)"),
    ("no sources", ["sources=[]"], r"the recipe lists no sources"),
    ("max_records=0", [src(GOOD), "sources.0.max_records=0"], r"key 'sources.0.max_records' must be a positive integer, got 0"),
    ("unknown override", [src(GOOD), "evl_fraction=0.1"], r"unknown key 'evl_fraction' \(did you mean 'eval_fraction'\?\)"),
    ("negative weight", [src(GOOD), "sources.0.weight=-1"], r"key 'sources.0.weight' must be a positive number, got -1"),
    ("unknown source option", [src(GOOD), "sources.0.options={splt: x}"],
     r"unknown key 'sources.0.options.splt' \(did you mean 'sources.0.options.split'\?\)"),
    ("source option type", [src(GOOD), "sources.0.options={skip_ties: maybe}"], r"key 'sources.0.options.skip_ties' must be a bool"),
    ("bad domain option", [src(GOOD), "sources.0.options={domain: politics}"], r"field 'domain': 'politics' is not one of"),
    ("path required", ["sources=[{name: generic}]"], r"key 'sources.0.path' is required for source 'generic'"),
    ("path missing", [src("{ws}/data/nope.jsonl")], r"key 'sources.0.path': .*/data/nope.jsonl not found"),
    ("relative path missing", [src("data/nope.jsonl")], r"not found \(relative paths are read from the current directory, .*/work\)"),
    # ---- the data
    ("malformed jsonl", [src("{ws}/data/malformed.jsonl")], r"malformed.jsonl:2: malformed JSON \(Expecting value at column 28\)"),
    ("missing field", [src("{ws}/data/missing.jsonl")], r"missing.jsonl:2: field 'rejected': is missing"),
    ("wrong type", [src("{ws}/data/wrongtype.jsonl")], r"wrongtype.jsonl:1: field 'chosen': should be str, got int"),
    ("zero rows", [src("{ws}/data/empty.jsonl")], r"source 'generic' yielded zero records"),
    ("ragged csv", [src("{ws}/data/ragged.csv")], r"ragged.csv:3: has 4 columns, the header has 3"),
    ("bad role", [src("{ws}/data/msgs.jsonl")], r"msgs.jsonl:1: field 'chosen': message 1 has role 'bot'"),
    ("not utf-8 jsonl", [src("{ws}/data/latin1.jsonl")],
     r"latin1.jsonl:2: not UTF-8 text: byte 0xe9 at byte offset 78 \(line 2, column 16\)"),
    ("not utf-8 csv", [src("{ws}/data/latin1.csv")], r"latin1.csv:3: not UTF-8 text: byte 0xe9 at byte offset 36 \(line 3, column 5\)"),
    ("escaped NUL", [src("{ws}/data/nul_escaped.jsonl")], r"nul_escaped.jsonl:3: field 'chosen': contains a NUL character"),
    ("raw NUL", [src("{ws}/data/nul_raw.jsonl")], r"nul_raw.jsonl:2: contains a NUL byte \(column 14\)"),
    ("deeply nested JSON", [src("{ws}/data/deep.jsonl")], r"deep.jsonl:1: JSON nested too deeply to read"),
    ("malformed JSON array", ["sources=[{name: rm_bench, path: {ws}/data/array.json}]"],
     r"array.json: malformed JSON \(Expecting value at line 2 column 29\)"),
    ("BBQ label true", ["sources=[{name: bbq, path: {ws}/data/bbq_bool}]"],
     r"bbq_bool/Age.jsonl:1: field 'label': should be an integer, got true"),
    ("BBQ label float", ["sources=[{name: bbq, path: {ws}/data/bbq_float}]"],
     r"bbq_float/Age.jsonl:1: field 'label': should be an integer, got 1.0"),
    # ---- the output directory (checked before any data loads)
    ("output_dir=.", [src(GOOD), "output_dir=."], r"output_dir .*/work is the current directory; choose a new directory"),
    ("output_dir=. overwrite", [src(GOOD), "output_dir=.", "overwrite=true"], r"is the current directory"),
    ("output_dir=..", [src(GOOD), "output_dir=..", "overwrite=true"], r"is a parent of the current directory"),
    ("foreign dir overwrite", [src(GOOD), "output_dir={ws}/foreign", "overwrite=true"],
     r"output_dir .*/foreign exists and was not written by genrm \(no \.genrm-output\.json\); it is left untouched"),
    ("other kind overwrite", [src(GOOD), "output_dir={ws}/trainrun", "overwrite=true"], r"holds a 'train' output, not 'data'"),
    ("previous build, no overwrite", [src(GOOD), "output_dir={ws}/prev"], r"output_dir .*/prev exists; pass overwrite=true to replace it$"),
    ("repo root", [src(GOOD), "output_dir={ws}/repo", "overwrite=true"], r"is a repository root"),
    ("home", [src(GOOD), "output_dir={ws}/home", "overwrite=true"], r"is your home directory"),
    ("filesystem root", [src(GOOD), "output_dir=/", "overwrite=true"], r"output_dir / is the filesystem root"),
    ("output_dir is a file", [src(GOOD), "output_dir={ws}/file.txt"], r"output_dir .*/file.txt is a file, not a directory"),
    ("output_dir empty", [src(GOOD), "output_dir="], r"output_dir is empty"),
    ("output_dir under a file", [src(GOOD), "output_dir={ws}/file.txt/out"], r"cannot be written \(Not a directory\)"),
    ("output_dir unwritable", [src(GOOD), "output_dir=/proc/genrm-out"], r"output_dir /proc/genrm-out cannot be written"),
    ("output checked before data", [src("{ws}/data/malformed.jsonl"), "output_dir={ws}/file.txt/out"], r"cannot be written"),
    # ---- the backend (LLM unit decomposition over HTTP)
    ("empty base_url", LLM + ["units.backend.base_url="], r"key 'units.backend.base_url' is empty"),
    ("ftp base_url", LLM + ["units.backend.base_url=ftp://example.org/v1"], r"key 'units.backend.base_url' must start with http:// or https:// \(got 'ftp://example.org/v1'"),
    ("not a url", LLM + ["units.backend.base_url=not a url"], r"key 'units.backend.base_url' contains whitespace \(got 'not a url'\)"),
    ("scheme-less url", LLM + ["units.backend.base_url=localhost:8000"], r"key 'units.backend.base_url' must start with http:// or https:// \(got 'localhost:8000'"),
    ("no host", LLM + ["units.backend.base_url=http:///v1"], r"key 'units.backend.base_url' names no host \(got 'http:///v1'\)"),
    ("bad port", LLM + ["units.backend.base_url=http://127.0.0.1:99999/v1"], r"key 'units.backend.base_url' is not a valid URL \(Port out of range 0-65535; got 'http://127.0.0.1:99999/v1'\)"),
    ("credentials redacted", LLM + ["units.backend.base_url=ftp://user:sk-hunter2@example.org/v1"], r"\(got 'ftp://\*\*\*@example.org/v1'"),
    ("timeout=0", LLM + ["units.backend.timeout=0"], r"key 'units.backend.timeout' must be a number > 0, got 0"),
    ("timeout=-1", LLM + ["units.backend.timeout=-1"], r"key 'units.backend.timeout' must be a number > 0, got -1"),
    ("timeout=abc", LLM + ["units.backend.timeout=abc"], r"key 'units.backend.timeout' must be a number > 0, got 'abc'"),
    ("max_retries=-1", LLM + ["units.backend.max_retries=-1"], r"key 'units.backend.max_retries' must be an integer >= 0, got -1"),
    ("concurrency=0", LLM + ["units.backend.concurrency=0"], r"key 'units.backend.concurrency' must be an integer >= 1, got 0"),
    ("unknown backend key", LLM + ["units.backend.timout=5"], r"unknown key 'units.backend.timout' \(did you mean 'units.backend.timeout'\?\)"),
    ("unknown backend kind", LLM + ["units.backend.kind=grpc"], r"units.backend: unknown backend kind 'grpc'"),
    ("connection refused", LLM + ["units.backend.base_url=http://127.0.0.1:{closed}/v1"],
     r"request\(s\) failed; first: http://127\.0\.0\.1:\d+/v1/chat/completions: connection refused"),
    ("TLS to a plain server", LLM + ["units.backend.base_url={ok_https}"], r"https://127\.0\.0\.1:\d+/v1/chat/completions: TLS error"),
    ("timeout", LLM + ["units.backend.base_url={slow}", "units.backend.timeout=0.2"],
     r"/v1/chat/completions: timed out after 0.2 s \(APITimeoutError\)"),
    ("HTTP 401", LLM + ["units.backend.base_url={auth}"],
     r"units.backend: http://127\.0\.0\.1:\d+/v1/chat/completions: HTTP 401 Unauthorized: invalid API key"),
    ("HTTP 404", LLM + ["units.backend.base_url={ok_v2}"], r"HTTP 404 Not Found: no route /v2/chat/completions"),
]


def _fill(arg: str, ws: Path, servers: dict) -> str:
    ok = servers["ok"].url
    values = {"ws": ws, "ok_https": ok.replace("http://", "https://"), "ok_v2": ok.replace("/v1", "/v2"),
              "auth": servers["auth"].url, "slow": servers["slow"].url, "closed": servers["closed"]}
    for k, v in values.items():
        arg = arg.replace("{" + k + "}", str(v))
    return arg


def test_the_table_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, args, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_changes_nothing(ws, servers, monkeypatch, capsys, name, args, pattern):
    monkeypatch.chdir(ws / "work")
    monkeypatch.setenv("HOME", str(ws / "home"))
    monkeypatch.delenv(NO_KEY, raising=False)
    monkeypatch.delenv("GENRM_DEBUG", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    argv = [_fill(a, ws, servers) for a in args]
    if not any(a.startswith(("recipe=", "output_dir=")) for a in argv):
        argv.append(f"output_dir={ws}/out/{re.sub(r'[^a-z0-9]+', '_', name)}")
    for srv in ("auth", "ok", "slow"):
        servers[srv].reset_stats()
    before = tree(ws)
    code = _main()(argv)
    err = capsys.readouterr().err
    last = err.split("\r")[-1].strip()  # after any progress bar
    assert code == 2, (name, err)
    assert "Traceback" not in err, err
    assert last.count("\n") == 0 and last.startswith("error: "), (name, err)
    assert re.search(pattern, last), (name, last)
    assert "sk-hunter2" not in err and "sk-right-key" not in err
    assert tree(ws) == before, name  # nothing written, nothing lost
    verify_output(str(ws / "prev"), "data")  # the previous build is whole
    if name == "HTTP 401":  # one request per rationale, none repeated at any level
        assert servers["auth"].statuses == {401: servers["auth"].requests} and servers["auth"].requests == 4


def test_debug_shows_the_traceback(ws, monkeypatch, capsys):
    monkeypatch.chdir(ws / "work")
    with pytest.raises(Exception, match="key 'seed' must be an int"):
        _main()([src(GOOD.replace("{ws}", str(ws))), "seed=abc", "--debug"])
    monkeypatch.setenv("GENRM_DEBUG", "1")
    with pytest.raises(Exception, match="key 'seed' must be an int"):
        _main()([src(GOOD.replace("{ws}", str(ws))), "seed=abc"])


def test_total_records_above_what_exists_warns(ws, tmp_path, capsys, caplog):
    import logging

    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING):
        assert _main()([src(GOOD.replace("{ws}", str(ws))), f"output_dir={out}", "total_records=100"]) == 0
    assert "total_records=100 but the sources give 12: sources.0 (generic) has 12 of the 100" in caplog.text
    stats = json.loads((out / "stats.json").read_text())
    assert stats["warnings"][0] == next(r.getMessage() for r in caplog.records if "total_records" in r.getMessage())
    assert stats["warnings"][1].startswith("sources.0 (generic): none of its 12 records has rationale units")
    assert "## warnings" in (out / "stats.md").read_text()
