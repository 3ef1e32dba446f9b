"""The `Matcher` protocol: the real matchers are Matchers (the MetaJudge also an
AsyncMatcher), the trainer's timing wrapper passes through as one, and a class without
the surface the rewards call is not a Matcher."""

import numpy as np

from genrm.reward.matching import EmbeddingMatcher, LexicalMatcher, LLMMatcher, make_matcher
from genrm.reward.protocol import AsyncMatcher, Matcher
from genrm.reward.scoring import score_rationales
from genrm.testing.scripted_backend import ScriptedBackend
from genrm.training.rewards import TimedMatcher


class _Async(ScriptedBackend):
    async def agenerate(self, prompts, sampling):
        return self.generate(prompts, sampling)


class NoScoring:
    kind = "lexical"
    is_async = False

    def score_matrix(self, human_units, model_units):  # one pair only: not what the rewards call
        return np.zeros((len(human_units), len(model_units)))


class NoKind:
    is_async = False

    def score_matrices(self, pairs, raise_errors=True):
        return []


def test_every_real_matcher_is_a_matcher():
    lexical, embedding = LexicalMatcher(), EmbeddingMatcher()  # the embedding model loads on first use only
    llm = LLMMatcher(ScriptedBackend())
    for m in (lexical, embedding, llm, make_matcher({"kind": "lexical"})):
        assert isinstance(m, Matcher), type(m).__name__
    assert [m.kind for m in (lexical, embedding, llm)] == ["lexical", "embedding", "llm"]
    assert not any(m.is_async for m in (lexical, embedding, llm))  # a sync backend keeps the MetaJudge sync
    assert isinstance(llm, AsyncMatcher) and LLMMatcher(_Async()).is_async
    assert not isinstance(lexical, AsyncMatcher) and not isinstance(embedding, AsyncMatcher)


def test_a_class_missing_a_method_or_attribute_is_not_a_matcher():
    assert not isinstance(NoScoring(), Matcher)
    assert not isinstance(NoKind(), Matcher)
    assert not isinstance(object(), Matcher)


def test_the_timing_wrapper_is_a_matcher_of_the_same_kind():
    timed = TimedMatcher(LexicalMatcher())
    assert isinstance(timed, Matcher) and timed.kind == "lexical" and timed.is_async is False
    [S] = score_rationales(timed, [(["Response A cites the 1969 landing date"], ["Response A cites the 1969 landing date"], "A")])
    assert S.tolist() == [[1.0]] and timed.calls == 1 and timed.matrices == 1
    assert TimedMatcher(LLMMatcher(_Async())).is_async
