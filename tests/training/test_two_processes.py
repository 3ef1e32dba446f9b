"""Two CPU processes train as one data-parallel run: SFT, the handover to GRPO, GRPO.

Before `genrm.training.dist.init_processes`, torchrun's CPU processes saw
`DistributedType.NO`: each ran both stages alone on the full data (same loss on both
ranks, epoch advancing at the single-process rate), barriers did nothing, and rank 1
could read `sft/final` before rank 0 had written it."""

import json
import sys

from tests.training.conftest import REPO, run_train, tiny_args


def test_two_cpu_processes_sft_then_grpo(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(REPO / "accelerate_configs" / "cpu.yaml"), "--num_processes", "2"]
    args = tiny_args(tiny_model, tiny_data, out, "eval_steps=2", "save_steps=2", "report_to=wandb")
    r = run_train(args, launcher=launcher, timeout=900, env={"WANDB_MODE": "offline"})
    assert r.returncode == 0, r.stderr[-4000:]
    logs = r.stdout + r.stderr
    assert "parallel_mode != ParallelMode.DISTRIBUTED" not in logs

    # SFT: 16 records in both orders (the demo recipe's sft.both_orders) = 32 examples, 2 a
    # device: 8 steps an epoch over two processes (16 in one).
    assert (out / "sft" / "DONE").exists() and (out / "sft" / "final" / "model.safetensors").exists()
    sft = json.loads((out / "sft" / "checkpoint-2" / "trainer_state.json").read_text())
    steps = [h for h in sft["log_history"] if "loss" in h]
    assert [h["epoch"] for h in steps] == [0.125, 0.25], steps
    # num_tokens is the global count: the second step's tokens add both ranks' batches
    assert steps[1]["num_tokens"] > steps[0]["num_tokens"] > 0

    # GRPO loaded sft/final on both ranks (the handover waited for rank 0's save), and each rank scored its own shard of prompts at every step
    ranks = [[json.loads(line) for line in (out / "grpo" / f"rows.rank{k}.jsonl").read_text().splitlines()]
             for k in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 2
    for a, b in zip(*ranks):
        assert a["step"] == b["step"] and not set(a["ids"]) & set(b["ids"]), (a, b)
    assert [p.name for p in (out / "grpo").glob("checkpoint-*")] == ["checkpoint-2"]
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    plan = json.loads((out / "plan.json").read_text())
    assert "2 process(es)" in plan["launcher"]
    history = json.loads((out / "eval_history.json").read_text())
    assert history[-1]["items"] == 2  # the eval split was shared out and gathered

    # one logger: each stage's summary printed once, and one wandb run (rank 0's; both stages log to it)
    assert logs.count("'train_runtime'") == 2, logs[-3000:]
    runs = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
