import pytest

from genrm.evaluation.judging import chosen_position_for, judge_records, summarize
from genrm.judge.votes import vote
from genrm.reward.matching import LexicalMatcher
from genrm.data.record import PreferenceRecord, user_prompt


def _rec(i, pos="A", units=None):
    return PreferenceRecord(
        source="generic", domain="general", prompt=user_prompt(f"Question {i}?"),
        chosen=f"good answer {i}", rejected=f"bad answer {i}", label_kind="gold",
        rationale_units=units or [], rationale_origin="human" if units else "none", chosen_position=pos,
    )


class Scripted:
    """Answers each prompt with a function of its user message (a deterministic judge)."""

    name = "scripted"

    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def generate(self, prompts, sampling):
        self.calls += len(prompts)
        return [self.answer(p[-1]["content"]) for p in prompts]


def _picks_good(text):
    a = text.split("[Response A]")[1].split("[End of Response A]")[0]
    return "1. the good one states the date\n\\boxed{A>B}" if "good" in a else "1. the good one states the date\n\\boxed{B>A}"


def test_votes_orders_and_summary():
    recs = [_rec(0, "A", ["The good one states the date."]), _rec(1, "B")]
    backend = Scripted(_picks_good)
    seen = []
    rep = judge_records(recs, backend, orders=("AB", "BA"), matcher=LexicalMatcher(), on_item=seen.append, progress=False)
    assert backend.calls == 4 and rep.judge_calls == 4 and [it["id"] for it in seen] == [r.id for r in recs]
    assert all(it["correct"] and it["position_consistent"] and it["votes"] == [1, 1] for it in rep.items)
    s = rep.summary()
    assert s["accuracy"] == 1.0 and s["parse_failure_rate"] == 0.0 and s["position_consistency"] == 1.0
    assert s["rationale_items"] == 1 and s["rationale_consistency"] == pytest.approx(1.0)


def test_position_bias_and_invalid_and_failures():
    always_a = Scripted(lambda t: "1. x\n\\boxed{A>B}")
    rep = judge_records([_rec(0)], always_a, orders=("AB", "BA"), progress=False)
    it = rep.items[0]
    assert it["votes"] == [1, -1] and it["correct"] is False and it["position_consistent"] is False
    garbage = Scripted(lambda t: "no verdict here")
    s = judge_records([_rec(0, "B")], garbage, progress=False).summary()
    assert s["accuracy"] == 0.0 and s["parse_failure_rate"] == 1.0
    # a failed backend call is an error, never a wrong answer
    down = Scripted(lambda t: None)
    s = judge_records([_rec(0), _rec(1)], down, orders=("AB", "BA"), progress=False).summary()
    assert s["errors"] == 2 and s["accuracy"] is None and s["parse_failure_rate"] is None


def test_as_placed_follows_the_record():
    r = _rec(0, "B")
    assert chosen_position_for(r, "as_placed") == "B" and chosen_position_for(r, "AB") == "A"
    rep = judge_records([r], Scripted(_picks_good), progress=False)
    assert rep.items[0]["judgments"][0]["chosen_position"] == "B" and rep.items[0]["correct"]
    assert vote("tie", "A") == 0 and vote("invalid", "B") == 0
    with pytest.raises(ValueError, match="unknown judging orders"):
        judge_records([r], Scripted(_picks_good), orders=("XY",))
    assert summarize(rep.items)["items"] == 1


def test_rationale_consistency_is_side_aware():
    """Units are side-neutral; each order's reasons are read against that order's placement."""
    rec = _rec(0, "A", ["{chosen} states the exact date of the event."])

    def honest(text):  # names the good answer's letter, whichever side it is on
        letter = "A" if "good" in text.split("[Response A]")[1].split("[End of Response A]")[0] else "B"
        return f"1. Response {letter} states the exact date of the event.\n\\boxed{{{letter}>{'B' if letter == 'A' else 'A'}}}"

    def swapped(text):  # credits the point to the other response
        letter = "B" if "good" in text.split("[Response A]")[1].split("[End of Response A]")[0] else "A"
        other = "B" if letter == "A" else "A"
        return f"1. Response {letter} states the exact date of the event.\n\\boxed{{{other}>{letter}}}"

    good = judge_records([rec], Scripted(honest), orders=("AB", "BA"), matcher=LexicalMatcher(), progress=False)
    assert [j["rationale_consistency"] for j in good.items[0]["judgments"]] == [1.0, 1.0]
    bad = judge_records([rec], Scripted(swapped), orders=("AB", "BA"), matcher=LexicalMatcher(), progress=False)
    assert bad.items[0]["correct"] and bad.items[0]["rationale_consistency"] == 0.0


def test_compact_template_round_trips_through_sft_targets_and_the_evaluator():
    """What SFT teaches under `judge.template: compact` is what the evaluator parses."""
    from genrm.judge.config import JudgeConfig
    from genrm.training.data import placements, sft_target

    assert JudgeConfig(template="compact").template == "compact" and JudgeConfig(template="compact").style == "rationale"
    recs = placements([_rec(0, "A", ["The good one states the date."]), _rec(1, "B", ["The good answer names the capital city."])], True)
    targets = {}
    for r in recs:
        targets[(r.prompt[0]["content"], r.response_a)] = sft_target(r)

    def answer(text):  # the target SFT wrote for exactly this compact prompt
        q = text.split("[Conversation]\n")[1].split("\n\n[Response A]")[0]
        a = text.split("[Response A]\n")[1].split("\n[End of Response A]")[0]
        return targets[(q, a)]

    rep = judge_records(recs[::2], Scripted(answer), template="compact", orders=("AB", "BA"),
                        matcher=LexicalMatcher(), progress=False)
    s = rep.summary()
    assert s["accuracy"] == 1.0 and s["position_consistency"] == 1.0 and s["parse_failure_rate"] == 0.0
    assert s["rationale_consistency"] == pytest.approx(1.0)


def test_greedy_memo_judges_each_prompt_once_per_run():
    """Suites sharing records (social and rationale on one split) reuse greedy judgments;
    sampled ones and failed calls are never reused."""
    from genrm.backends.base import Sampling
    from genrm.evaluation.models import GreedyMemo

    class Counting:
        def __init__(self):
            self.seen, self.fail = [], set()

        def generate(self, prompts, sampling):
            self.seen += [p[-1]["content"] for p in prompts]
            return [None if p[-1]["content"] in self.fail else "out " + p[-1]["content"] for p in prompts]

    inner = Counting()
    memo = GreedyMemo(inner)
    p = [{"role": "user", "content": "x"}]
    q = [{"role": "user", "content": "y"}]
    greedy = Sampling(max_new_tokens=8)
    assert memo.generate([p, q, p], greedy) == ["out x", "out y", "out x"] and inner.seen == ["x", "y"]
    assert memo.generate([q], greedy) == ["out y"] and inner.seen == ["x", "y"] and memo.hits == 2
    assert memo.generate([p], Sampling(max_new_tokens=9)) == ["out x"] and inner.seen[-1] == "x"  # other settings
    hot = Sampling(max_new_tokens=8, temperature=1.0, seed=1)
    memo.generate([p, p], hot)
    assert inner.seen[-2:] == ["x", "x"]  # sampled: generated every time
    inner.fail.add("z")
    z = [{"role": "user", "content": "z"}]
    assert memo.generate([z], greedy) == [None] and memo.generate([z], greedy) == [None]
    assert inner.seen.count("z") == 2  # a failure is retried, never remembered


def test_rationale_suite_keeps_the_label_kinds_asked_for_and_its_own_limit(tmp_path):
    import json

    from genrm.config import RecipeError, load_recipe
    from genrm.evaluation.schema import EvalRecipe, RationaleData
    from genrm.evaluation.suites import rationale

    recs = [_rec(i, units=["The good one states the date."]) for i in range(4)]
    recs[1].label_kind = "directional"
    f = tmp_path / "eval.jsonl"
    f.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in recs))
    gold = rationale.load_items(RationaleData(records=[str(f)], label_kinds=["gold"]), None)
    assert [r.id for r in gold] == [recs[i].id for i in (0, 2, 3)]
    assert len(rationale.load_items(RationaleData(records=[str(f)]), None)) == 4
    with pytest.raises(RecipeError, match="data.rationale.label_kinds"):
        load_recipe(["suites=[rationale]", "models=[{ref: x}]", "data.rationale.label_kinds=[silver]"], EvalRecipe)
    with pytest.raises(RecipeError, match="data.social.limit"):
        load_recipe(["suites=[social]", "models=[{ref: x}]", "data.social.limit=0"], EvalRecipe)
