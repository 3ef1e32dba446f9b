import json
import os
import shutil
import signal
import re
import subprocess
import sys
import time

from tests.training.conftest import REPO, TRAIN, tiny_args


def _rows(out):
    """Record ids per step; a step redone after the kill keeps its last entry."""
    per_step = {}
    for line in (out / "grpo" / "rows.rank0.jsonl").read_text().splitlines():
        row = json.loads(line)
        per_step[row["step"]] = row["ids"]
    return per_step


def test_sigkill_after_first_checkpoint_then_resume(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    args = tiny_args(tiny_model, tiny_data, out, "sft.enabled=false", "grpo.max_steps=5", "eval_steps=0",
                     "save_total_limit=null")
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, str(TRAIN), *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = out / "grpo" / "checkpoint-1" / "trainer_state.json"
    deadline = time.time() + 240
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert first.exists(), proc.stderr.read()[-2000:] if proc.poll() is not None else "no checkpoint in time"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "grpo" / "DONE").exists(), "the run finished before the kill; nothing was tested"

    # without resume=true the directory is refused, and nothing in it is touched
    again = subprocess.run([sys.executable, str(TRAIN), *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert again.returncode == 2 and "resume=true" in again.stderr and first.exists()

    # What a kill during later saves leaves (the Trainer writes trainer_state.json last): weights
    # but no state, and a torn state. Made by hand so that the test does not depend on timing.
    grpo = out / "grpo"
    shutil.copytree(grpo / "checkpoint-1", grpo / "checkpoint-3")
    (grpo / "checkpoint-3" / "trainer_state.json").unlink()
    shutil.copytree(grpo / "checkpoint-1", grpo / "checkpoint-4")
    state = grpo / "checkpoint-4" / "trainer_state.json"
    state.write_text(state.read_text()[:40])
    # a finished checkpoint whose weights a user removed: one line, not a traceback
    shutil.copytree(grpo / "checkpoint-1", grpo / "checkpoint-9")
    st = json.loads((grpo / "checkpoint-9" / "trainer_state.json").read_text())
    (grpo / "checkpoint-9" / "trainer_state.json").write_text(json.dumps({**st, "global_step": 9}))
    for f in (grpo / "checkpoint-9").glob("*.safetensors"):
        f.unlink()
    bad = subprocess.run([sys.executable, str(TRAIN), *args, "resume=true"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    last = bad.stderr.strip().splitlines()[-1]
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-3000:]
    assert re.match(r"error: .*checkpoint-9 is a finished checkpoint without its model weights", last), last
    shutil.rmtree(grpo / "checkpoint-9")

    done = subprocess.run([sys.executable, str(TRAIN), *args, "resume=true"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"checkpoint-4: skipped, its save did not finish \(trainer_state.json is torn", done.stderr)
    assert re.search(r"checkpoint-3: skipped, its save did not finish \(no trainer_state.json", done.stderr)
    state = json.loads((out / "grpo" / "checkpoint-5" / "trainer_state.json").read_text())
    assert state["global_step"] == 5 and state["max_steps"] == 5
    steps = _rows(out)
    assert sorted(steps) == [0, 1, 2, 3, 4], steps
    used = [i for ids in steps.values() for i in ids]
    assert len(used) == len(set(used)) == 5, "a training row was used twice in the epoch"
    assert (out / "config.json").exists()
