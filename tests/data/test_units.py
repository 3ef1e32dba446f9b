import pytest

from genrm.backends.base import Sampling
from genrm.data.units import DecomposeError, LLMDecomposer, is_generic, make_decomposer, split_rule_based

HS3_REASONING = (
    "@Response 1 is better than @Response 2. @Response 1 correctly explains that the loop never terminates "
    "because `i` is never incremented. @Response 2 claims the code is fine, which is wrong. "
    "Response 2 is better. @Response 1 also gives a fixed version of the code with `i += 1`.\n"
    "- Response 1 correctly explains that the loop never terminates since i is never incremented.\n"
    "- The formatting of @Response 2 uses an unnecessary table for a two-line answer."
)


def test_rule_splitter_atomic_generic_and_dedup():
    units = split_rule_based(HS3_REASONING)
    assert "Response 2 is better." not in units
    assert not any(u.startswith("@Response 1 is better") for u in units)
    assert units[0].startswith("@Response 1 correctly explains that the loop never terminates")
    # the bullet repeating the first point is merged away
    assert sum("never terminates" in u for u in units) == 1
    assert any("fixed version" in u for u in units)
    assert any("unnecessary table" in u for u in units)
    assert split_rule_based("") == [] and split_rule_based("   ") == []
    assert len(split_rule_based(". ".join(f"Point number {i} is about item {i}" for i in range(20)), max_units=7)) == 7


@pytest.mark.parametrize("s", ["Response 1 is better.", "@Response 2 is slightly better than @Response 1.", "Both are good.", "Good."])
def test_generic(s):
    assert is_generic(s)


def test_not_generic():
    assert not is_generic("Response 1 gives the wrong capital of Australia (Sydney instead of Canberra).")


class ScriptedBackend:
    name = "scripted"

    def __init__(self, replies):
        self.replies = list(replies)
        self.calls = []

    def generate(self, prompts, sampling: Sampling):
        self.calls.append((prompts, sampling))
        return [self.replies.pop(0) for _ in prompts]


def test_llm_decomposer_parses_and_retries():
    be = ScriptedBackend(
        [
            "1. The loop never terminates because i is never incremented.\n2. Response 2 wrongly says the code is fine.\n3. Response 1 gives a fixed version.",
            "I cannot do that.",  # unusable -> retried
            "- Response 2 uses an unnecessary table for a short answer.\n- Response 1 is concise and answers directly.",
        ]
    )
    d = LLMDecomposer(backend=be, max_retries=1)
    out = d.decompose_batch(["rationale one", "rationale two", ""])
    assert out[0][0] == "The loop never terminates because i is never incremented."
    assert len(out[0]) == 3
    assert out[1] == ["Response 2 uses an unnecessary table for a short answer.", "Response 1 is concise and answers directly."]
    assert out[2] == []
    assert len(be.calls) == 2 and len(be.calls[1][0]) == 1  # only the failed one is re-asked
    assert be.calls[0][1].temperature == 0.0 and be.calls[1][1].temperature > 0


def test_llm_decomposer_fails_loudly():
    be = ScriptedBackend(["nothing useful", None, "1. " + "\n9. ".join(["x y z w"] * 9)])
    with pytest.raises(DecomposeError, match="could not be decomposed after 3 attempts"):
        LLMDecomposer(backend=be, max_retries=2).decompose_batch(["some rationale"])
    # Without raising, a failed text is None (a request that failed for good is None too).
    be = ScriptedBackend(["1. The first answer cites the wrong year.", None, None])
    out = LLMDecomposer(backend=be, max_retries=1).decompose_batch(["good", "bad"], raise_errors=False)
    assert out == [["The first answer cites the wrong year."], None]


def test_make_decomposer():
    assert make_decomposer({"method": "rule"}) is None
    with pytest.raises(ValueError, match="units.method"):
        make_decomposer({"method": "magic"})
    with pytest.raises(ValueError, match="needs units.backend"):
        make_decomposer({"method": "llm"})
