"""The rewardbench2 and best_of_n suites end to end with a scripted judge (no model): the official
generative rules, our pairwise protocol, seeded placement, resume, report and plot, the recipe."""

import json
import re

import pytest

from genrm.config import load_recipe
from genrm.evaluation import runner
from genrm.evaluation.models import GenRM
from genrm.evaluation.schema import EvalRecipe
from genrm.evaluation.suites import rewardbench2 as rb2
from genrm.judge.config import JudgeConfig
from genrm.judge.multiway import ranking_order, ranking_position
from genrm.judge.verdict import render_verdict
from genrm.testing.scripted_backend import responses

FIXTURE = "tests/fixtures/rewardbench2/test.jsonl"
ROWS = [json.loads(line) for line in open(FIXTURE)]
BON = [json.loads(line) for line in open("tests/fixtures/best_of_n/generic.jsonl")]
CORRECT = {c for r in ROWS + BON for c in r["chosen"]}  # no correct text is an incorrect one elsewhere
_ANSWER = re.compile(r"\[The Start of Assistant ([ABCD])'s Answer\]\n(.*?)\n\[The End of Assistant", re.S)


class Oracle:
    """Knows the correct completions: picks, rates and compares by them (`garbage`: unreadable)."""

    name = "oracle"

    def __init__(self, garbage: bool = False):
        self.garbage, self.calls = garbage, 0

    def generate(self, prompts, sampling):
        self.calls += len(prompts)
        return [self._one("\n".join(m["content"] for m in p), p) for p in prompts]

    def _one(self, text, prompt):
        if self.garbage:
            return "I cannot decide."
        if "four AI assistants" in text:
            return "".join(f"[[{x}]]" for x, a in _ANSWER.findall(text) if a in CORRECT)
        if "rate the response" in text:
            answer = text.split("[Response]\n", 1)[1].split("\n\n[Your judgement]", 1)[0]
            return "Fine. 10" if answer in CORRECT else "Poor. 3"
        a, b = responses(prompt)
        label = "A=B" if (a in CORRECT) == (b in CORRECT) else "A>B" if a in CORRECT else "B>A"
        return "1. It is right.\n" + render_verdict(label)


def judge_suite(backend, protocols=("pairwise", "ranking", "ratings"), seeds=(0,)):
    model = GenRM(backend, JudgeConfig(), 0)
    rows = []
    for it in rb2.items_for(rb2.items(rb2.load(FIXTURE, four_way=True), protocols, list(seeds)), "genrm"):
        got = []
        model.compare(rb2.comparisons(it, 0), got.append)
        rows.append(rb2.item_row(it, got))
    return rb2.summarize(rows)


def test_a_perfect_judge_scores_100_and_the_ties_maximum_101():
    got = judge_suite(Oracle())["protocols"]
    for proto in ("pairwise", "ranking", "ratings"):
        subsets = got[proto]["subsets"]
        assert all(subsets[s]["score"] == 100.0 for s in rb2.bon_arith.SUBSETS[:5]), proto
        # Ties: every part is 1 and the margin term tanh(gap / 0 - 1) = 1: 1.01, as published.
        assert subsets["Ties"]["score"] == pytest.approx(101.0), proto
        assert got[proto]["overall"] == pytest.approx((500 + 101) / 6)
    # Round robin on the Ties prompts: G(G-1) calls each (3, 6, 3, 5 and 3 completions).
    assert got["pairwise"]["ties_strategy"] == "round_robin"
    assert got["pairwise"]["ties_judge_calls"] == 6 + 30 + 6 + 20 + 6


def test_unreadable_verdicts_score_as_published():
    got = judge_suite(Oracle(garbage=True))["protocols"]
    # 4-way: an unparsable verdict is 0.25; ratings: all -1, so the 0.25 of "no valid rating".
    for proto in ("ranking", "ratings"):
        assert got[proto]["subsets"]["Math"]["score"] == 25.0 and got[proto]["parse_failure_rate"] == 100.0
        assert got[proto]["ties"]["tied_accuracy"] == 0.0  # -1 everywhere: the gap is 0, not > 0
    assert got["pairwise"]["subsets"]["Math"]["score"] == 0.0  # an invalid verdict never wins a comparison


def test_seeded_placement_same_seed_same_numbers_other_seed_other_placements():
    items = rb2.items(rb2.load(FIXTURE, four_way=True), ["ranking"], [0, 1])
    pos = {s: [r.meta["position"] for it in items if it.seed == s for r in rb2.comparisons(it, 99)] for s in (0, 1)}
    assert len(pos[0]) == 10 and pos[0] != pos[1] and len(set(pos[0])) > 1
    again = [r.meta["position"] for it in items if it.seed == 0 for r in rb2.comparisons(it, 5)]
    assert again == pos[0]  # an item's own seed wins over the run's
    a, b = judge_suite(Oracle(garbage=False), ["ranking"], [0, 1]), judge_suite(Oracle(), ["ranking"], [0, 1])
    assert a == b and set(a["protocols"]["ranking"]["seeds"]) == {"0", "1"}
    # The correct answer sits where the position says: slot A swapped with it, the rest in order.
    assert ranking_order(2) == [2, 1, 0, 3] and 0 <= ranking_position(0, "1") <= 3


def test_scores_items_cover_every_completion_once():
    p = next(p for p in rb2.load(FIXTURE) if p.id == "tied:1")
    it = rb2.Item("scores:tied:1", "scores", p)
    comps = rb2.comparisons(it, 0)
    assert {c.chosen for c in comps} | {c.rejected for c in comps} == set(p.chosen + p.rejected)
    results = [{"scores": [float(len(c.chosen)), -float(len(c.rejected))]} for c in comps]
    row = rb2.item_row(it, results)
    assert row["scores"] == [1.0, 1.0, 1.0, 1.0, -1.0, -1.0] and row["num_correct"] == 4


# ----------------------------------------------------------------------------- through the runner


@pytest.fixture
def oracle_models(monkeypatch):
    made = []

    def load_model(spec, judge, seed, **kw):
        made.append(Oracle())
        return GenRM(made[-1], judge, seed)

    monkeypatch.setattr(runner, "load_model", load_model)
    return made


def test_runner_writes_report_and_plot_and_resumes_by_protocol_and_seed(tmp_path, oracle_models):
    out = tmp_path / "eval"
    args = ["models=[{ref: oracle, name: oracle}]", "suites=[rewardbench2,best_of_n]", f"output_dir={out}",
            f"data.rewardbench2.path={FIXTURE}", "data.rewardbench2.protocols=[pairwise,ranking]",
            "data.best_of_n.path=tests/fixtures/best_of_n/generic.jsonl", "bootstrap_resamples=50"]
    first = runner.run(load_recipe(args, schema=EvalRecipe))
    r = first["results"]["oracle"]["rewardbench2"]
    assert r["always"]["errors"] == 0 and r["metrics"]["protocols"]["ranking"]["overall"] == pytest.approx(601 / 6)
    assert r["metrics"]["length_baselines"]["shortest"]["subsets"]["Focus"]["score"] == 100.0
    report = (out / "report.md").read_text()
    for line in ("| 4-way ranking: overall |", "| shortest answer: overall |", "| pairwise: overall |",
                 "round_robin (68 calls)", "## Best-of-N"):
        assert line in report, line
    assert (out / "plots" / "rewardbench2_subsets.png").stat().st_size > 0
    rows = [ln for ln in report.splitlines() if ln.startswith("| ") and not ln.startswith("| ---")]
    assert all(ln.rstrip(" |").split(" | ")[-1].strip() for ln in rows)  # every row says what it is
    assert first["results"]["oracle"]["best_of_n"]["metrics"]["accuracy"] == 100.0
    # Resume: nothing redone; another seed adds only its 4-way items (10 prompts, 1 call each).
    runner.run(load_recipe(args, schema=EvalRecipe))
    assert len(oracle_models) == 1  # every item done: no model even loaded
    runner.run(load_recipe([*args, "data.rewardbench2.seeds=[0,1]"], schema=EvalRecipe))
    # 20 new items (seed 0 is a new id too: "ranking@0:" vs the run-seeded "ranking:"); a prompt placed
    # alike by both seeds is one prompt, generated once (greedy answers are remembered within a run).
    written = [json.loads(ln)["id"] for ln in open(out / "oracle" / "rewardbench2.jsonl")]
    assert sum(i.startswith("ranking@") for i in written) == 20
    placed = {(p.id, ranking_position(s, p.id)) for p in rb2.load(FIXTURE) if not p.ties for s in (0, 1)}
    assert oracle_models[-1].calls == len(placed)


def test_recipe_names_the_hub_and_takes_the_fixture():
    r = load_recipe(["recipe=recipes/eval/rewardbench2.yaml"], schema=EvalRecipe)
    assert r.data.rewardbench2.path == "allenai/reward-bench-2" and r.data.rewardbench2.split == "test"
    assert r.suites == ["rewardbench2"]
    local = load_recipe(["recipe=recipes/eval/rewardbench2.yaml", f"data.rewardbench2.path={FIXTURE}"],
                        schema=EvalRecipe)
    assert len(rb2.load_items(local.data.rewardbench2, 1)) > 0


# ----------------------------------------------------------------------------- the official prompts and parsers


def test_prompts_are_the_published_text():
    import hashlib

    from genrm.judge import multiway

    # sha256 prefixes of reward-bench's prompt_v2, MTBENCH_V2's template, ratings_prompt(_ties), compared verbatim
    want = {"RANKING_SYSTEM": "cc81b612789438e8", "RANKING_USER": "0b53abc0dd92074f",
            "RATING_PROMPT": "dd94ed65b24c00d4", "RATING_PROMPT_TIES": "86b62377fd01e969"}
    for name, digest in want.items():
        assert hashlib.sha256(getattr(multiway, name).encode()).hexdigest()[:16] == digest, name
    msgs = multiway.ranking_messages("Q?", ["a", "b", "c", "d"])
    assert [m["role"] for m in msgs] == ["system", "user"] and "[The Start of Assistant C's Answer]\nc\n" in msgs[1]["content"]
    assert [m["role"] for m in multiway.rating_messages("Q?", "a")] == ["user"]  # the published system prompt is empty


@pytest.mark.parametrize("text, want", [
    ("So [[C]].", "C"), ("[[D]] ... actually [[A]]", "A"), ("[[b]]", None), ("B is best", None),
])
def test_ranking_verdict_as_the_published_parser(text, want):
    from genrm.judge.multiway import parse_ranking

    assert parse_ranking(text) == want  # A, B, C, D checked in that order, anywhere in the text


@pytest.mark.parametrize("text, want", [("Good.\n\n9", 9), ("Rating: 10  ", 10), ("7 out of 10", 10),
                                        ("I give it 11", None), ("Score: 7.", None), ("0", None)])
def test_rating_as_the_published_parser(text, want):
    from genrm.judge.multiway import parse_rating

    assert parse_rating(text) == want  # a trailing integer 1-10, nothing after it


def test_request_failures_are_errors_never_scores():
    from genrm.backends.base import BackendError, Sampling
    from genrm.judge.multiway import Request, judge_requests

    class Flaky:
        def __init__(self, fail):
            self.fail = fail

        def generate(self, prompts, sampling):
            if self.fail:
                raise BackendError("server down")
            return [None, "Fine. 8"]

    reqs = [Request("a", "rating", [{"role": "user", "content": "x"}]), Request("b", "rating", [])]
    got = []
    judge_requests(Flaky(False), reqs, Sampling(), on_result=got.append, progress=False)
    assert [r["error"] is not None for r in got] == [True, False] and got[1]["generations"][0]["answer"] == 8
    got.clear()
    judge_requests(Flaky(True), reqs, Sampling(), on_result=got.append, progress=False)
    assert all("server down" in r["error"] for r in got)


# ----------------------------------------------------------------------------- best-of-N adapters


def test_best_of_n_adapters_map_rmb_and_ppe_fields():
    from genrm.evaluation.suites import best_of_n as bon

    rmb = bon.load("tests/fixtures/best_of_n/rmb.json", format="rmb")
    assert [(p.id, len(p.chosen), len(p.rejected)) for p in rmb] == [("2366", 1, 2), ("2367", 1, 1)]
    assert rmb[0].prompt == [{"role": "user", "content": "Name a fruit."}] and rmb[1].category.endswith("S10")
    ppe = bon.load("tests/fixtures/best_of_n/ppe.jsonl", format="ppe")  # q2: every response correct, left out
    assert [(p.id, p.chosen, p.rejected) for p in ppe] == [("q1:m", ["2", "The answer is 2."], ["3"]),
                                                          ("q3:m", ["5"], ["4", "6"])]
    comps = bon.comparisons(ppe[1], 0)
    assert [(c.chosen, c.rejected) for c in comps] == [("5", "4"), ("5", "6")]


def test_best_of_n_bad_row_is_one_line(tmp_path):
    from genrm.data.rows import DataError
    from genrm.evaluation.suites import best_of_n as bon

    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"prompt": "q", "chosen": ["a"], "rejected": ["b"]}) + "\n"
                 + json.dumps({"prompt": "q", "chosen": ["a"], "rejected": "b"}) + "\n")
    with pytest.raises(DataError) as e:
        bon.load(str(p))
    assert f"{p}:2" in str(e.value) and "'rejected'" in str(e.value)


@pytest.mark.parametrize("strategy, calls", [("bradley_terry", 6 * 5), ("sampled_round_robin1", 2 * 6)])
def test_other_ties_strategies_of_the_scalarize_module(strategy, calls):
    p = next(p for p in rb2.load(FIXTURE) if p.id == "tied:1")  # 6 completions
    it = next(i for i in rb2.items([p], ["pairwise"], strategy=strategy) if i.protocol == "pairwise")
    comps = rb2.comparisons(it, 0)
    assert it.id == f"pairwise/{strategy}:tied:1" and 2 * len(comps) == calls  # both orders each
    assert [c.id for c in rb2.comparisons(it, 0)] == [c.id for c in comps]  # the sampled design is seeded
    got = []
    GenRM(Oracle(), JudgeConfig(), 0).compare(comps, got.append)
    scores = rb2.item_row(it, got)["scores"]
    assert min(scores[:4]) > max(scores[4:])  # the oracle's correct completions come out on top
