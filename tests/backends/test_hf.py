"""HFBackend: batched generation must equal one-prompt-at-a-time greedy decoding.

Unit tests use a tiny randomly initialised Llama with the embedded SmolLM2
tokenizer; the `slow` tests run the embedded SmolLM2 itself on real RM-Bench
judge prompts.
"""

import logging
import os

import pytest
import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from genrm.backends import make_backend
from genrm.backends.base import BackendError, Sampling
from genrm.backends import kv_cache
from genrm.backends.hf import HFBackend
from genrm.judge.prompts import render_judge_messages
from genrm.data.sources.rm_bench import load as load_rm_bench
from genrm.testing import tiny_causal_lm
from genrm.judge.verdict import parse_verdict

PROMPTS = [
    [{"role": "user", "content": "Which is larger, 7 or 12? Explain briefly."}],
    "A raw string prompt",
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": " ".join(["word"] * 60) + " -- summarise that."}],
    [{"role": "user", "content": "Hi"}],
]


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return tiny_causal_lm(tokenizer)


def _backend(tiny, tokenizer, **kw):
    return HFBackend(model_obj=tiny, tokenizer=tokenizer, **kw)


def _naive(backend, prompts, max_new, eos=None):
    """The reference: transformers' own greedy generate, one prompt at a time."""
    eos = eos if eos is not None else sorted(backend.eos_ids)
    out = []
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([backend.encode(p)], device=backend.device)
            g = backend.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False,
                eos_token_id=eos, pad_token_id=backend.pad_id,
            )[0, ids.shape[1]:].tolist()
            g = g[: next((k for k, t in enumerate(g) if t in eos), len(g))]  # the EOS token is not text
            out.append(backend.tokenizer.decode(g, skip_special_tokens=True))
    return out


@pytest.mark.parametrize("batch_size,prefill_tokens", [(1, 4096), (2, 4096), (5, 4096), (4, 40)])
def test_batched_greedy_equals_one_at_a_time(tiny, tokenizer, batch_size, prefill_tokens):
    b = _backend(tiny, tokenizer, batch_size=batch_size, prefill_tokens=prefill_tokens)
    got = b.generate(PROMPTS, Sampling(max_new_tokens=12))
    assert got == _naive(b, PROMPTS, 12)
    assert all(t for t in got)
    assert b.stats["generated_tokens"] == 12 * len(PROMPTS)
    if prefill_tokens == 40:  # several prefill chunks were merged into one decode cache
        assert b.stats["padded_prefill_tokens"] < sum(len(b.encode(p)) for p in PROMPTS) * 2


def test_rows_that_finish_early_are_dropped_and_outputs_unchanged(tiny, tokenizer):
    b = _backend(tiny, tokenizer, batch_size=5)
    free = b.generate(PROMPTS, Sampling(max_new_tokens=10))
    # Make a token that some rows emit mid-way an end-of-sequence token.
    toks = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in free]
    stop_tok = toks[0][3]
    b.eos_ids = {stop_tok}
    got = b.generate(PROMPTS, Sampling(max_new_tokens=10))
    assert got == _naive(b, PROMPTS, 10, eos=[stop_tok])
    assert len(got[0]) < len(free[0])  # row 0 really stopped early
    assert b.stats["generated_tokens"] < 2 * 10 * len(PROMPTS)  # finished rows did not keep decoding


@pytest.mark.parametrize("share_attention", [True, False])
def test_shared_prompt_prefix_is_prefilled_once(tiny, tokenizer, share_attention, monkeypatch):
    system = {"role": "system", "content": "You are an impartial judge. " * 12}
    prompts = [[system, {"role": "user", "content": q}] for q in ("Is 7 > 12?", "Name two primes.", "Say hi", "x " * 30)]
    b = _backend(tiny, tokenizer, batch_size=4, prefill_tokens=48)  # several chunks share the prefix
    assert b.share_prefix_attention  # CPU + sdpa
    b.share_prefix_attention = share_attention  # False: the prefix is copied into every row
    calls = []
    real = kv_cache.shared_prefix_attention
    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, kv_cache.SHARED_PREFIX_ATTENTION,
                        lambda *a, **k: calls.append(a[1].shape[2]) or real(*a, **k))
    got = b.generate(prompts, Sampling(max_new_tokens=10))
    if share_attention:  # the shared keys served prefill (many queries) and decode (one query)
        assert max(calls) > 1 and 1 in calls
    else:
        assert calls == []
    assert got == _naive(b, prompts, 10)
    encoded = [b.encode(p) for p in prompts]
    shared = len(os.path.commonprefix(encoded))
    assert shared > 60 and b.stats["reused_prefix_tokens"] == 3 * shared  # run once, not 4 times
    assert b.stats["prefill_tokens"] == sum(map(len, encoded)) - 3 * shared
    # n samples of a prompt share its prefill too (one decode group of 8 rows here)
    b.batch_size = 8
    b.stats = dict.fromkeys(b.stats, 0)
    twice = b.generate(prompts, Sampling(max_new_tokens=4, n=2))
    assert twice == [t for t in b.generate(prompts, Sampling(max_new_tokens=4)) for _ in range(2)]
    assert b.stats["prefill_tokens"] == 2 * (sum(map(len, encoded)) - 3 * shared)


def test_stem_plan_runs_fewest_tokens():
    # After the common prefix [1, 2, 3]: [4, 5, 6, 7, ...] is shared by three prompts.
    ps = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 1, 1], [1, 2, 3, 9, 9], [1, 2, 3, 4, 5, 6, 7, 8, 2, 2],
          [1, 2, 3, 4, 5, 0]]
    n, order, stems, donors = kv_cache.stem_plan(ps, 2)
    assert n == 3 and sorted(order) == list(range(5))
    full = [order[j] for j, d in enumerate(donors) if d < 0]
    assert donors[: len(full)] == [-1] * len(full) and all(0 <= d < len(full) for d in donors[len(full):])
    for j, (m, d) in enumerate(zip(stems, donors)):
        if d >= 0:  # the stem really is shared with the donor, and the row keeps a token to run
            assert ps[order[j]][n : n + m] == ps[order[d]][n : n + m] and m < len(ps[order[j]]) - n
    assert sum(stems) == 8  # [1,2,3,4,5,6,7,8,9] in full, two rows copy [4,5,6,7]: the best here
    assert kv_cache.stem_plan([[1, 2, 3]], 2) == (0, [0], [0], [-1])
    assert kv_cache.stem_plan([[5, 1, 7], [5, 1, 8]], 1) == (2, [0, 1], [0, 0], [-1, -1])  # nothing beyond the prefix
    assert kv_cache.stem_plan([[5, 1], [5, 1, 2]], 1) == (1, [0, 1], [0, 1], [-1, 0])  # each row keeps a token


@pytest.mark.parametrize("share_attention,prefill_tokens", [(True, 4096), (True, 64), (False, 4096)])
def test_prompts_sharing_a_stem_copy_it_and_equal_one_at_a_time(tiny, tokenizer, share_attention, prefill_tokens):
    """Judge-like prompts: one instruction, two questions, each first response paired with
    several second ones; rows that share a question and first response copy its keys."""
    system = {"role": "system", "content": "Judge the two responses. " * 8}
    firsts = {"Q1": ["alpha " * 12, "beta " * 30], "Q2": ["gamma " * 20]}
    seconds = ["one", "two two two", "three " * 9]
    prompts = [[system, {"role": "user", "content": f"{q}\n[A] {a}\n[B] {b}"}]
               for q, firsts_q in firsts.items() for a in firsts_q for b in seconds]
    b = _backend(tiny, tokenizer, batch_size=len(prompts), prefill_tokens=prefill_tokens)
    b.share_prefix_attention = share_attention
    got = b.generate(prompts, Sampling(max_new_tokens=8))
    assert got == _naive(b, prompts, 8)
    encoded = [b.encode(p) for p in prompts]
    assert b.stats["prefill_tokens"] + b.stats["reused_prefix_tokens"] == sum(map(len, encoded))
    shared = len(os.path.commonprefix(encoded))
    assert b.stats["reused_prefix_tokens"] > (len(prompts) - 1) * shared + 6 * 12  # 6 rows copied a stem
    # n samples of each prompt, and a batch that splits the families, give the same texts
    b.batch_size = 4
    assert b.generate(prompts, Sampling(max_new_tokens=8, n=2)) == [t for t in got for _ in range(2)]


def test_sliding_window_models_use_their_own_cache(tokenizer):
    model = tiny_causal_lm(tokenizer, arch="mistral", sliding_window=8, seed=1)
    b = HFBackend(model_obj=model, tokenizer=tokenizer, batch_size=3)
    assert not b.bufferable
    got = b.generate(PROMPTS, Sampling(max_new_tokens=12))
    assert got == _naive(b, PROMPTS, 12)
    assert b.stats["reused_prefix_tokens"] == 0


def test_n_samples_prompt_major_and_greedy_repeats(tiny, tokenizer):
    b = _backend(tiny, tokenizer, batch_size=4)
    one = b.generate(PROMPTS[:3], Sampling(max_new_tokens=6))
    three = b.generate(PROMPTS[:3], Sampling(max_new_tokens=6, n=3))
    assert three == [t for t in one for _ in range(3)]


def test_sampling_is_seeded_and_independent_of_batch_composition(tiny, tokenizer):
    b = _backend(tiny, tokenizer, batch_size=8)
    s = Sampling(max_new_tokens=8, temperature=1.0, n=2, seed=7)
    a1 = b.generate(PROMPTS, s)
    a2 = b.generate(PROMPTS, s)
    assert a1 == a2
    # A prompt's draws depend on (seed, its index, sample index), not on its batch mates.
    b.batch_size = 1
    assert b.generate(PROMPTS, s) == a1
    other = b.generate(PROMPTS, Sampling(max_new_tokens=8, temperature=1.0, n=2, seed=8))
    assert other != a1
    assert a1[0] != a1[1] or a1[2] != a1[3]  # the n samples of a prompt differ


def test_top_p_tiny_keeps_only_the_argmax(tiny, tokenizer):
    b = _backend(tiny, tokenizer, batch_size=4)
    greedy = b.generate(PROMPTS, Sampling(max_new_tokens=6))
    nucleus = b.generate(PROMPTS, Sampling(max_new_tokens=6, temperature=1.0, top_p=1e-6, seed=3))
    assert nucleus == greedy


def test_stop_strings_cut_the_text(tiny, tokenizer):
    b = _backend(tiny, tokenizer)
    free = b.generate(PROMPTS[:1], Sampling(max_new_tokens=12))[0]
    stop = free[len(free) // 2 : len(free) // 2 + 2]
    assert stop.strip()
    cut = b.generate(PROMPTS[:1], Sampling(max_new_tokens=12, stop=[stop]))[0]
    assert cut == free[: free.find(stop)]
    assert b.stats["generated_tokens"] < 24  # decoding ended at the stop string


def test_loglikelihood_matches_a_full_forward(tiny, tokenizer):
    b = _backend(tiny, tokenizer, batch_size=2)
    pairs = [(PROMPTS[0], " Twelve is larger."), ("Raw prompt:", " yes"), (PROMPTS[3], " ok")]
    got = b.loglikelihood_batch(pairs)
    for (p, c), value in zip(pairs, got):
        pi = b.encode(p)
        ci = tokenizer(c, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = tiny(input_ids=torch.tensor([pi + ci])).logits[0]
        logp = torch.log_softmax(logits.double(), -1)
        ref = sum(float(logp[len(pi) + k - 1, t]) for k, t in enumerate(ci))
        assert value == pytest.approx(ref, abs=1e-3)
    assert b.loglikelihood(*pairs[1]) == pytest.approx(got[1], abs=1e-4)


def test_bad_inputs(tiny, tokenizer, caplog):
    b = _backend(tiny, tokenizer, max_length=20)
    with pytest.raises(BackendError, match="empty prompt"):
        b.generate([""], Sampling(max_new_tokens=2))
    with pytest.raises(ValueError, match="sampling.n"):
        b.generate(PROMPTS, Sampling(n=0))
    with pytest.raises(BackendError, match="no room"):
        b.generate(PROMPTS[:1], Sampling(max_new_tokens=20))
    with pytest.raises(BackendError, match="no tokens"):
        b.loglikelihood("x", "")
    with caplog.at_level(logging.WARNING):
        out = b.generate(PROMPTS[3:4], Sampling(max_new_tokens=4))  # 60+ tokens cut to the last 16
    assert len(out) == 1 and "cut to its last 16" in caplog.text
    with pytest.raises(ValueError, match="batch_size"):
        _backend(tiny, tokenizer, batch_size=0)
    with pytest.raises(ValueError, match="tokenizer"):
        HFBackend(model_obj=tiny)


def test_make_backend_routes_and_unknown_kind(tiny, tokenizer):
    b = make_backend({"kind": "hf", "model_obj": tiny, "tokenizer": tokenizer, "batch_size": 3})
    assert isinstance(b, HFBackend) and b.batch_size == 3
    with pytest.raises(ValueError, match="known: hf, openai, vllm"):
        make_backend({"kind": "nope"})


def test_training_mode_is_restored(tiny, tokenizer):
    b = _backend(tiny, tokenizer)
    tiny.train()
    try:
        b.generate(PROMPTS[:1], Sampling(max_new_tokens=2))
        assert tiny.training
    finally:
        tiny.eval()


# ---------------------------------------------------------------- CUDA (skipped without a GPU)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def tiny_gpu_path(tmp_path_factory, tokenizer):
    path = tmp_path_factory.mktemp("tiny-llama-gpu")
    tiny_causal_lm(tokenizer, hidden_size=256, sharpen=10.0).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("batch_size,prefill_tokens", [(5, 4096), (2, 40)])
def test_gpu_fp32_batched_greedy_equals_one_at_a_time(tiny_gpu_path, batch_size, prefill_tokens):
    b = HFBackend(str(tiny_gpu_path), dtype="float32", device="cuda", batch_size=batch_size,
                  prefill_tokens=prefill_tokens)
    assert b.device.type == "cuda" and not b.share_prefix_attention
    got = b.generate(PROMPTS, Sampling(max_new_tokens=16))
    assert got == _naive(b, PROMPTS, 16)
    assert b.stats["generated_tokens"] == 16 * len(PROMPTS)


@pytest.mark.gpu
@needs_cuda
def test_gpu_auto_picks_bf16_and_agrees_with_fp32(tiny_gpu_path):
    b16 = HFBackend(str(tiny_gpu_path), batch_size=5)  # device and dtype "auto"
    assert b16.device.type == "cuda" and next(b16.model.parameters()).dtype == torch.bfloat16
    b32 = HFBackend(str(tiny_gpu_path), dtype="float32", device="cuda", batch_size=5)
    s = Sampling(max_new_tokens=16)
    got16, got32 = b16.generate(PROMPTS, s), b32.generate(PROMPTS, s)
    assert all(t for t in got16)
    naive16 = _naive(b16, PROMPTS, 16)
    # The prefill argmax of the peaked model survives bf16 rounding; later near-ties may flip
    # (on CPU bf16, 4 of these 5 rows matched the one-at-a-time loop in full).
    first = lambda t: b32.tokenizer(t, add_special_tokens=False)["input_ids"][:1]  # noqa: E731
    assert [first(t) for t in got16] == [first(t) for t in naive16] == [first(t) for t in got32]
    assert sum(a == c for a, c in zip(got16, naive16)) >= 3
    pairs = [(PROMPTS[0], " Twelve is larger."), ("Raw prompt:", " yes")]
    for v16, v32 in zip(b16.loglikelihood_batch(pairs), b32.loglikelihood_batch(pairs)):
        assert v16 == pytest.approx(v32, rel=0.05, abs=0.5)


@pytest.mark.gpu
@needs_cuda
def test_gpu_sampling_is_seeded_and_independent_of_batch_composition(tiny_gpu_path):
    b = HFBackend(str(tiny_gpu_path), dtype="float32", device="cuda", batch_size=8)
    s = Sampling(max_new_tokens=8, temperature=1.0, n=2, seed=7)
    a1 = b.generate(PROMPTS, s)
    assert a1 == b.generate(PROMPTS, s)
    b.batch_size = 1
    assert b.generate(PROMPTS, s) == a1
    assert b.generate(PROMPTS, Sampling(max_new_tokens=8, temperature=1.0, n=2, seed=8)) != a1


@pytest.mark.gpu
@needs_cuda
def test_gpu_loglikelihood_matches_a_full_forward(tiny_gpu_path):
    b = HFBackend(str(tiny_gpu_path), dtype="float32", device="cuda", batch_size=2)
    pairs = [(PROMPTS[0], " Twelve is larger."), ("Raw prompt:", " yes"), (PROMPTS[3], " ok")]
    got = b.loglikelihood_batch(pairs)
    for (p, c), value in zip(pairs, got):
        pi, ci = b.encode(p), b.tokenizer(c, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = b.model(input_ids=torch.tensor([pi + ci], device="cuda")).logits[0]
        logp = torch.log_softmax(logits.double(), -1)
        assert value == pytest.approx(sum(float(logp[len(pi) + k - 1, t]) for k, t in enumerate(ci)), abs=1e-3)


# ---------------------------------------------------------------- the real embedded model


@pytest.fixture(scope="module")
def smol():
    return HFBackend("embedded:smollm2-135m", batch_size=8)


@pytest.mark.slow
def test_smollm2_judges_real_rm_bench_prompts(smol, shared_data):
    recs = [r for r in load_rm_bench(str(shared_data / "rm_bench" / "chat_filtered.json"))
            if r.meta["chosen_variant"] == r.meta["rejected_variant"] == 0][:4]
    prompts = [render_judge_messages(r.prompt, r.response_a, r.response_b) for r in recs]
    # The judge prompt carries the real question and both real responses.
    assert recs[0].chosen.strip()[:40] in smol.render(prompts[0])
    outs = smol.generate(prompts, Sampling(max_new_tokens=48))
    assert outs == _naive(smol, prompts, 48)  # batched == one at a time, on the real model
    assert all(isinstance(t, str) and t.strip() for t in outs)
    verdicts = [parse_verdict(t) for t in outs]
    for v in verdicts:
        assert v.winner in {"A", "B", "tie", "invalid"}
        assert (v.raw is None) == (not v.valid)
        assert v.valid or v.error  # an unparsable output says why


@pytest.mark.slow
def test_smollm2_loglikelihood_prefers_the_sensible_continuation(smol):
    prompt = [{"role": "user", "content": "What is the capital of France?"}]
    good = smol.loglikelihood(prompt, "The capital of France is Paris.")
    bad = smol.loglikelihood(prompt, "The capital of France is Tokyo.")
    assert good > bad
