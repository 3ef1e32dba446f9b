"""Scoring models: shared-prompt log-likelihood equals one-at-a-time, scores are cached, normalisation."""

import pytest

from genrm.evaluation.models import Comparison, ProxyRM
from genrm.evaluation.suites.social import group
from genrm.data.sources import bbq


@pytest.fixture(scope="module")
def backend(tokenizer):
    from genrm.backends.hf import HFBackend
    from genrm.testing import tiny_causal_lm

    return HFBackend(model_obj=tiny_causal_lm(tokenizer), tokenizer=tokenizer, batch_size=8)


def test_shared_prompt_loglikelihood_equals_one_at_a_time(backend, shared_data):
    items = group(bbq.load(str(shared_data / "bbq" / "Religion.jsonl")))[:12]  # 4 contexts x ambig/disambig
    pairs = [(it.prompt, o) for it in items for o in dict.fromkeys(x for p in it.pairs for x in (p.chosen, p.rejected))]
    pairs.append(("a raw string prompt", " and its continuation"))
    calls = []
    orig = backend.prefix_kv
    backend.prefix_kv = lambda p: (calls.append(len(p)), orig(p))[1]
    try:
        batched = backend.loglikelihood_batch(pairs)
    finally:
        backend.prefix_kv = orig
    single = [backend.loglikelihood(p, r) for p, r in pairs]
    assert len(pairs) == 37 and max(abs(a - b) for a, b in zip(batched, single)) < 1e-3
    assert calls and min(calls) >= backend.min_shared_prefix  # prompts sharing a context ran it once


def test_proxy_caches_scores_and_normalises_per_token(backend, tokenizer):
    proxy = ProxyRM(backend, normalize="mean")
    prompt = [{"role": "user", "content": "Who was asking for money?"}]
    comps = [Comparison("a", prompt, "The grandson", "Unknown"), Comparison("b", prompt, "Unknown", "The grandmother")]
    got = []
    assert proxy.compare(comps, got.append) == 3  # "Unknown" is scored once for both comparisons
    assert proxy.compare(comps, got.append) == 0  # all cached
    sums = backend.loglikelihood_batch([(prompt, "The grandson"), (prompt, "Unknown")])
    n = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in ("The grandson", "Unknown")]
    assert got[0]["scores"] == pytest.approx([sums[0] / n[0], sums[1] / n[1]], abs=1e-4)
    assert got[0]["votes"] == [1 if got[0]["scores"][0] > got[0]["scores"][1] else -1]
    assert ProxyRM(backend, normalize="sum").score([(prompt, "Unknown")]) == pytest.approx([sums[1]], abs=1e-4)
