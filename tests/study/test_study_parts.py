"""The study's parts without a model: recipe checks, held-out selection, measures, bootstrap, claims."""

import itertools
import json

import numpy as np
import pytest

from genrm.config import RecipeError, load_recipe
from genrm.evaluation.judging import judge_records, summarize
from genrm.reward.matching import LexicalMatcher
from genrm.data.record import PreferenceRecord, user_prompt
from genrm.study import measures as M
from genrm.study.recipe import StudyRecipe
from genrm.study.report import claims
from genrm.study.stats import differences, mean_std
from tests.study.conftest import REPO

TOY = f"recipe={REPO / 'recipes' / 'study' / 'toy_cpu.yaml'}"
GPU = f"recipe={REPO / 'recipes' / 'study' / 'gpu.yaml'}"


def test_recipes_load_and_toy_cpu_fits_two_hours():
    from genrm.study.plan import estimate

    toy = load_recipe([TOY], StudyRecipe)
    assert toy.arms == ["base", "sft", "outcome", "hybrid", "rationale"] and toy.seeds == [0, 1, 2]
    est = estimate(toy)
    assert est["total"] is not None and est["total"] <= 2 * 3600, est
    gpu = load_recipe([GPU], StudyRecipe)
    assert gpu.arms == toy.arms and len(gpu.seeds) == 3
    t = gpu.train_recipe("hybrid", 0, "r", "s", "sft")
    assert t.reward.kind == "hybrid" and not t.sft.enabled and t.model.ref == "sft" and t.precision == "bf16"


@pytest.mark.parametrize("override, words", [
    ("trainer.reward.kind=outcome", "'trainer.reward.kind' is set by the study"),
    ("trainer.model.ref=x", "'trainer.model.ref' is set by the study"),
    ("trainer.grpo.max_step=3", "trainer.grpo.max_step"),
    ("trainer.grpo.num_generations=3", "num_generations"),
    ("trainer.sft.learning_rate=fast", "trainer.sft.learning_rate"),
    ("arms=[hybrid,hybrid]", "lists an arm twice"),
    ("arms=[hybird]", "did you mean 'hybrid'"),
    ("seeds=[]", "seeds"),
    ("eval.support_threshold=0", "support_threshold"),
    ("data.eval_fraction=0", "held-out"),
])
def test_bad_recipe_is_one_line_naming_the_key(override, words):
    with pytest.raises(RecipeError) as e:
        load_recipe([TOY, override], StudyRecipe)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_trained_arms_and_typed_overrides():
    r = load_recipe([TOY, "arms=[base,hybrid]", "trainer.grpo.max_steps=3", "trainer.grpo.beta=0.04"], StudyRecipe)
    assert r.trained_arms() == ["sft", "hybrid"]  # the warm start is trained though not listed
    assert r.trainer["grpo"]["max_steps"] == 3  # a plain int, so the per-run recipe files dump cleanly
    cfg = r.train_config("hybrid", 1, "runs/h", "splits", "runs/sft")
    assert cfg["seed"] == 1 and cfg["resume"] and cfg["data"]["eval_split"] == "heldout"
    assert cfg["grpo"]["beta"] == 0.04 and cfg["reward"]["kind"] == "hybrid" and cfg["eval"]["compare_base"] is False
    assert r.train_config("sft", 1, "x", "s", "y")["model"]["ref"] == r.model


def test_resume_refuses_other_settings(tmp_path):
    from genrm.study.run import check_settings

    r = load_recipe([TOY, f"output_dir={tmp_path}"], StudyRecipe)
    check_settings(str(tmp_path), r)
    check_settings(str(tmp_path), load_recipe([TOY, "seeds=[0,1,2,3]", "note=more seeds"], StudyRecipe))  # allowed
    with pytest.raises(RecipeError, match="another 'trainer.grpo.max_steps'"):
        check_settings(str(tmp_path), load_recipe([TOY, "trainer.grpo.max_steps=9"], StudyRecipe))


def _rec(i: int, source: str = "generic", prompt: str | None = None) -> PreferenceRecord:
    return PreferenceRecord(source=source, domain="general", prompt=user_prompt(prompt or f"Question {i}?"),
                            chosen=f"good answer {i}", rejected=f"bad answer {i}", label_kind="gold",
                            rationale_units=["The good one states the date."], rationale_origin="template",
                            chosen_position="A" if i % 2 else "B")


def test_heldout_selection_is_balanced_seeded_and_length_capped():
    from genrm.study.data import select_heldout

    pool = [_rec(i, "a") for i in range(10)] + [_rec(i, "b") for i in range(10, 13)] + [_rec(i, "c") for i in range(13, 30)]
    lengths = [100] * len(pool)
    lengths[0] = 5000
    got, too_long = select_heldout(pool, 9, seed=0, lengths=lengths, max_tokens=1000)
    assert too_long == 1 and pool[0] not in got
    assert [r.source for r in got[:3]] == ["a", "b", "c"]  # round robin: every prefix is mixed
    assert sum(r.source == "b" for r in got) == 3
    again, _ = select_heldout(list(reversed(pool)), 9, seed=0, lengths=list(reversed(lengths)), max_tokens=1000)
    assert [r.id for r in again] == [r.id for r in got]  # the pool's order does not matter
    other, _ = select_heldout(pool, 9, seed=1, lengths=lengths, max_tokens=1000)
    assert [r.id for r in other] != [r.id for r in got]


def test_bbq_selection_alternates_contexts(shared_data):
    from genrm.evaluation.suites import social
    from genrm.data.sources import get_source
    from genrm.study.data import select_bbq

    pool = list(itertools.islice(get_source("bbq")(str(shared_data / "bbq")), 400))
    recs = select_bbq(pool, 6, seed=0)
    items = [it for it in social.group(recs) if it.part == "bbq"]
    assert len(items) == 6 and len(items[0].pairs) == 3
    assert sorted(it.info["context_condition"] for it in items) == ["ambig"] * 3 + ["disambig"] * 3


class Scripted:
    def __init__(self, answer):
        self.answer = answer

    def generate(self, prompts, sampling):
        return [self.answer(p[-1]["content"]) for p in prompts]


def _shown_first_is_good(text: str) -> bool:
    return "good" in text.split("[Response A]")[1].split("[End of Response A]")[0]


HONEST = lambda t: "1. The good one states the date.\n\\boxed{%s}" % ("A>B" if _shown_first_is_good(t) else "B>A")  # noqa: E731
HACKER = lambda t: "1. The good one states the date.\n\\boxed{%s}" % ("B>A" if _shown_first_is_good(t) else "A>B")  # noqa: E731
ALWAYS_A = lambda t: "1. The good one states the date.\n\\boxed{A>B}"  # noqa: E731
VAGUE = lambda t: "1. It is nicer.\n\\boxed{A>B}"  # noqa: E731


@pytest.mark.parametrize("judge, rvc, hack", [(HONEST, 100.0, 0.0), (HACKER, 0.0, 100.0), (ALWAYS_A, 50.0, 50.0),
                                              (VAGUE, None, 0.0)])
def test_reasons_verdict_consistency(judge, rvc, hack):
    recs = [_rec(i) for i in range(8)]
    items = judge_records(recs, Scripted(judge), matcher=LexicalMatcher(), progress=False).items
    t = M.item_table(items, [r.source for r in recs], threshold=0.5)
    got = {k: M._num(v) for k, v in M.main_metrics(t).items()}
    assert got["reasons_verdict_consistency"] == rvc and got["hacking_rate"] == hack
    s = summarize(items)  # the aggregation agrees with the judging path's own summary
    assert got["accuracy"] == pytest.approx(100 * s["accuracy"])
    assert got["parse_failure_rate"] == pytest.approx(100 * s["parse_failure_rate"])
    assert got["rationale_consistency"] == pytest.approx(100 * s["rationale_consistency"])


def test_missing_items_and_parse_failures():
    recs = [_rec(i) for i in range(4)]
    items = judge_records(recs, Scripted(lambda t: "no verdict"), matcher=LexicalMatcher(), progress=False).items
    t = M.item_table(items[:3] + [None], [r.source for r in recs], threshold=0.5)
    got = M.main_metrics(t)
    assert float(got["parse_failure_rate"]) == 100.0 and float(got["accuracy"]) == 0.0
    assert np.isnan(t.correct[3])  # a missing record counts nowhere, never as wrong


def _table(correct: list[float], rc: list[float]) -> M.ItemTable:
    n = len(correct)
    ones = np.ones(n)
    return M.ItemTable(np.array(correct, float), np.array(rc, float), ones, np.zeros(n), ones,
                       np.array([x >= 0.5 for x in rc], float), np.array(correct, float) * (np.array(rc) >= 0.5),
                       ["s"] * n)


def _points(t: M.ItemTable) -> dict:
    return {**{k: M._num(v) for k, v in M.main_metrics(t).items()}, "bbq": {}}


def test_bootstrap_differences():
    rng = np.random.default_rng(0)
    good = [_table([1.0] * 30, [0.8] * 30), _table([1.0] * 29 + [0.0], [0.7] * 30)]
    bad = [_table([0.0] * 30, [0.2] * 30), _table([0.0] * 30, [0.3] * 30)]
    noisy = [_table(list(rng.integers(0, 2, 30).astype(float)), list(rng.random(30))) for _ in range(2)]
    tables = {"outcome": bad, "hybrid": good, "sft": list(bad), "base": noisy}
    bbq = {a: [[], []] for a in tables}
    points = {a: [_points(t) for t in ts] for a, ts in tables.items()}
    d = differences(tables, bbq, points, "outcome", resamples=300, confidence=0.95, seed=0)
    assert set(d) == {"hybrid", "sft", "base"}
    h = d["hybrid"]["accuracy"]
    assert h["diff"] == pytest.approx((100 + 100 * 29 / 30) / 2) and h["excludes_zero"] and h["lo"] > 90
    assert d["hybrid"]["rationale_consistency"]["diff"] == pytest.approx(50.0)
    same = d["sft"]["accuracy"]
    assert same["diff"] == 0.0 and same["lo"] == same["hi"] == 0.0 and not same["excludes_zero"]
    b = d["base"]["accuracy"]
    assert b["lo"] <= b["diff"] <= b["hi"]
    assert mean_std([1.0, 3.0, None]) == {"mean": 2.0, "std": pytest.approx(2 ** 0.5), "n": 2, "values": [1.0, 3.0, None]}


def test_claim_verdicts():
    diffs = {"hybrid": {"rationale_consistency": {"diff": 5.0, "lo": 1.0, "hi": 9.0, "excludes_zero": True},
                        "accuracy": {"diff": 1.0, "lo": -2.0, "hi": 4.0, "excludes_zero": False}},
             "sft": {"rationale_consistency": {"diff": -6.0, "lo": -9.0, "hi": -2.0, "excludes_zero": True}}}
    got = {c["id"]: c["verdict"] for c in claims(diffs, ["sft", "outcome", "hybrid"])}
    assert got["hybrid_raises_rc"] == "reproduced"
    assert got["hybrid_raises_accuracy"].startswith("not reproduced")
    assert got["outcome_lowers_rc"].startswith("reversed")
    assert got["rationale_only_hacks"].startswith("not measured")


def test_grpo_summary_leaves_out_steps_without_a_reward(tmp_path):
    from genrm.study.measures import grpo_summary

    ck = tmp_path / "grpo" / "checkpoint-2"
    ck.mkdir(parents=True)
    log = [{"step": 1, "reward": None, "frac_reward_zero_std": 1.0, "hybrid/checks/void_filler": 2},
           {"step": 2, "reward": 0.5, "frac_reward_zero_std": 0.0, "hybrid/checks/void_filler": 1}]
    (ck / "trainer_state.json").write_text(json.dumps({"log_history": log}))
    got = grpo_summary(str(tmp_path))
    assert got["steps_logged"] == 2 and got["reward_mean"] == 0.5 and got["frac_reward_zero_std"] == 0.5
    assert got["voided_reasons"] == {"void_filler": 3.0}


def test_overwrite_replaces_only_what_the_study_wrote(tmp_path):
    from genrm.outputs import MARKER, OutputDirError
    from genrm.study.run import run_study, study_owns

    out = tmp_path / "study"
    ours = ["settings.json", "study.md", "progress.jsonl", "results/sft-seed0.json", "recipes/sft-seed0.yaml",
            "plots/tradeoff.png", "splits/heldout.jsonl", "runs/sft/seed0/model.safetensors",
            "runs/hybrid/seed1/grpo/checkpoint-4/trainer_state.json", "evals/base/base/rationale.jsonl"]
    for rel in ours:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("x")
    (out / MARKER).write_text('{"kind": "study"}')
    assert all(study_owns(r) for r in ours)
    assert not any(study_owns(r) for r in ["notes.md", "runs/sft/seed0/notes.md", "results/notes.txt", "mine/a.json"])
    (out / "runs" / "sft" / "seed0" / "notes.md").write_text("mine")
    with pytest.raises(OutputDirError, match=r"did not write \(runs/sft/seed0/notes.md\)"):
        run_study([TOY, f"output_dir={out}", "overwrite=true", "resume=false"])
    assert (out / "runs" / "sft" / "seed0" / "notes.md").read_text() == "mine"
    assert all((out / rel).exists() for rel in ours)
