import json
import sys

from tests.training.conftest import REPO, run_train, tiny_args


def test_two_cpu_processes(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(REPO / "accelerate_configs" / "cpu.yaml"), "--num_processes", "2"]
    args = tiny_args(tiny_model, tiny_data, out, "sft.enabled=false", "eval_steps=2", "save_steps=2")
    r = run_train(args, launcher=launcher, timeout=400)
    assert r.returncode == 0, r.stderr[-4000:]
    # both ranks computed rewards on their own slice, and one checkpoint was written
    assert (out / "grpo" / "rows.rank0.jsonl").exists() and (out / "grpo" / "rows.rank1.jsonl").exists()
    assert [p.name for p in (out / "grpo").glob("checkpoint-*")] == ["checkpoint-2"]
    plan = json.loads((out / "plan.json").read_text())
    assert "2 process(es)" in plan["launcher"]
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    history = json.loads((out / "eval_history.json").read_text())
    assert history[-1]["items"] == 2  # the eval split was shared out and gathered
