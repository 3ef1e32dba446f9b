"""Resuming after SIGKILL, and a GenRM behind a real OpenAI-compatible HTTP server with failures."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from genrm.config import load_recipe
from genrm.evaluation.runner import ResultsFile, run
from genrm.evaluation.schema import EvalRecipe, expand_shortcuts
from genrm.testing import FakeOpenAIServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_sigkilled_run_resumes_without_redoing_or_duplicating(tmp_path, tiny_dir, shared_data):
    out = tmp_path / "eval"
    args = [f"models=[{tiny_dir}]", "suites=[social]", "limit=24", f"output_dir={out}",
            f"data.social.sources=[{{name: bbq, path: {shared_data / 'bbq' / 'Religion.jsonl'}}}]",
            "judge.max_new_tokens=4", "judge.chunk_size=3", "plots=false"]
    results = out / tiny_dir.name / "social.jsonl"
    env = dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "evaluate", "run.py"), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if results.exists() and results.read_text().count("\n") >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = ResultsFile(str(results)).read()  # also cuts a torn last line
    assert 3 <= len(done_before) < 24
    summary = run(load_recipe(expand_shortcuts(args), schema=EvalRecipe))
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    ids = [r["id"] for r in lines]
    assert len(ids) == len(set(ids)) == 24  # nothing duplicated, nothing missing
    assert [r["id"] for r in lines[: len(done_before)]] == list(done_before)  # kept as they were
    meta = json.loads((out / tiny_dir.name / "social.meta.json").read_text())
    # Only the items missing after the kill were judged again: 3 pairs x 2 orders each.
    assert meta["model_calls"] == 6 * (24 - len(done_before))
    assert summary["results"][tiny_dir.name]["social"]["always"]["items"] == 24


def _judge_reply(body: dict) -> str:
    return "1. Response A answers the question directly.\n\\boxed{A>B}"


def test_genrm_endpoint_with_a_failed_call_reports_then_retries(tmp_path, short_slices):
    out = tmp_path / "eval"
    with FakeOpenAIServer(default=_judge_reply, model="judge-7b") as srv:
        args = [f"models=[{{ref: {srv.url}, name: judge-7b, backend: {{max_retries: 0, timeout: 10}}}}]", "suites=[judgebench]",
                f"data.judgebench.path={short_slices / 'judgebench.jsonl'}", f"output_dir={out}", "plots=false"]
        srv.fail(500)  # one judgment fails for good (no retries)
        first = run(load_recipe(args, schema=EvalRecipe))
        res = first["results"]["judge-7b"]["judgebench"]
        assert res["always"]["errors"] == 1 and res["always"]["items"] == 3
        # Always "A>B": every pair gets +1 and -1, so none is correct; never consistent; always parsed.
        assert res["metrics"]["overall"] == 0.0 and res["metrics"]["n"] == 3
        assert res["always"]["position_consistency"] == 0.0 and res["always"]["parse_failure_rate"] == 0.0
        requests = srv.requests
        second = run(load_recipe(args, schema=EvalRecipe))
        assert srv.requests - requests == 2  # only the failed pair, in its two orders
    res = second["results"]["judge-7b"]["judgebench"]
    assert res["always"]["errors"] == 0 and res["always"]["items"] == 4 and res["metrics"]["n"] == 4
    assert res["always"]["judge_calls"] == 10  # 8 in the first run (1 failed), 2 in the second
    assert first["models"][0]["ref"] == srv.url


def test_endpoint_credentials_never_reach_the_files(tmp_path, short_slices):
    """Issue 23: `http://user:KEY@host/v1` was written in plain text into recipe.yaml,
    summary.json, the meta files and report.md (and named the model's directory)."""
    out = tmp_path / "eval"
    with FakeOpenAIServer(default=_judge_reply, model="judge-7b") as srv:
        secret_url = srv.url.replace("://", "://alice:SECRETKEY123@")
        run(load_recipe([f"models=[{{ref: '{secret_url}', api_model: judge-7b}}]", "suites=[judgebench]", "limit=2",
                         f"data.judgebench.path={short_slices / 'judgebench.jsonl'}", f"output_dir={out}"],
                        schema=EvalRecipe))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "report.md" for p in files) and any(p.name.endswith(".meta.json") for p in files)
    for p in files:
        if p.suffix != ".png":
            text = p.read_text(errors="replace")
            assert "SECRETKEY" not in text and "alice" not in text, p
    assert all("SECRETKEY" not in str(p) for p in files)
