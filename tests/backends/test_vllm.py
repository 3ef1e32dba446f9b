"""VLLMBackend: pure helpers and the wiring run here (vLLM faked where needed);
the GPU tests compare it with HFBackend on a tiny random Llama and need vLLM + CUDA."""

from __future__ import annotations

import gc
import sys
import types
from types import SimpleNamespace

import pytest

from genrm.backends import make_backend
from genrm.backends.base import BackendError, Sampling
from genrm.backends.vllm import (
    VLLMBackend,
    continuation_logprob,
    engine_max_len,
    flatten_outputs,
    request_seed,
    sampling_kwargs,
)
from genrm.testing import tiny_causal_lm

CHAT = [
    [{"role": "user", "content": "Is 7 a prime number? Answer yes or no."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
]
RAW = "The capital of France is"


# ---------------------------------------------------------------- without vLLM


def test_module_imports_without_vllm():
    assert VLLMBackend.name == "vllm"


def test_constructing_without_vllm_names_the_extra_and_the_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails even where vLLM is installed
    with pytest.raises(ImportError, match=r"pip install 'genrm\[vllm\]'") as info:
        VLLMBackend(model="embedded:smollm2-135m")
    assert "GPU" in str(info.value)


def test_make_backend_routes_to_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="VLLMBackend needs vLLM"):
        make_backend({"kind": "vllm", "model": "Qwen/Qwen3-8B"})

    seen = {}

    class Recorder:
        def __init__(self, **kw):
            seen.update(kw)

    monkeypatch.setattr("genrm.backends.vllm.VLLMBackend", Recorder)
    assert isinstance(make_backend({"kind": "vllm", "model": "m", "max_model_len": 4096}), Recorder)
    assert seen == {"model": "m", "max_model_len": 4096}


def test_request_seed_is_deterministic_and_per_prompt():
    seeds = [request_seed(0, i) for i in range(100)]
    assert seeds == [request_seed(0, i) for i in range(100)]
    assert len(set(seeds)) == 100
    assert all(0 <= s < 2**31 for s in seeds)
    assert request_seed(1, 0) != request_seed(0, 0)
    assert request_seed(0, 1) != request_seed(1, 0)
    assert request_seed(3, 5) == 2069995953  # pinned: runs must reproduce across versions


def test_sampling_kwargs_greedy_asks_once_without_seed():
    kw = sampling_kwargs(Sampling(max_new_tokens=7, temperature=0.0, n=4, seed=9, top_p=0.5), 3)
    assert kw == {"max_tokens": 7, "stop": None, "n": 1, "temperature": 0.0, "top_p": 1.0}


def test_sampling_kwargs_sampled_carries_n_top_p_stop_and_prompt_seed():
    s = Sampling(max_new_tokens=5, temperature=0.7, top_p=0.9, n=3, seed=11, stop=["\n\n", "END"])
    kw = sampling_kwargs(s, 2)
    assert kw == {
        "max_tokens": 5, "stop": ["\n\n", "END"], "n": 3, "temperature": 0.7, "top_p": 0.9,
        "seed": request_seed(11, 2),
    }
    kw["stop"].append("x")
    assert s.stop == ["\n\n", "END"]  # a copy, not the caller's list


def _ro(*pairs, prompt_logprobs=None):
    """A fake vllm RequestOutput with (index, text) completions."""
    return SimpleNamespace(
        outputs=[SimpleNamespace(index=i, text=t) for i, t in pairs], prompt_logprobs=prompt_logprobs
    )


def test_flatten_outputs_is_prompt_major_in_index_order():
    outs = [_ro((2, "a2"), (0, "a0"), (1, "a1")), _ro((1, "b1"), (0, "b0"), (2, "b2"))]
    assert flatten_outputs(outs, 3, greedy=False) == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_flatten_outputs_repeats_the_greedy_text_n_times():
    assert flatten_outputs([_ro((0, "x")), _ro((0, "y"))], 2, greedy=True) == ["x", "x", "y", "y"]


def test_flatten_outputs_rejects_a_wrong_count():
    with pytest.raises(BackendError, match="expected 3"):
        flatten_outputs([_ro((0, "a"), (1, "b"))], 3, greedy=False)


def _lp(x):
    return SimpleNamespace(logprob=x)


def test_continuation_logprob_sums_only_the_continuation_tokens():
    tokens = [5, 8, 13, 21]
    plp = [None, {8: _lp(-9.0), 1: _lp(-0.1)}, {4: _lp(-0.2), 13: _lp(-1.5)}, {21: _lp(-0.25)}]
    assert continuation_logprob(plp, tokens, start=2) == pytest.approx(-1.75)
    assert continuation_logprob(plp, tokens, start=1) == pytest.approx(-10.75)


def test_continuation_logprob_raises_when_a_token_is_missing():
    with pytest.raises(BackendError, match="position 2"):
        continuation_logprob([None, {8: _lp(-1.0)}, {99: _lp(-1.0)}], [5, 8, 13], start=1)
    with pytest.raises(BackendError, match="position 3"):
        continuation_logprob([None, {8: _lp(-1.0)}, {13: _lp(-1.0)}], [5, 8, 13, 21], start=1)


def test_engine_max_len_finds_the_config_where_the_version_keeps_it():
    cfg = SimpleNamespace(max_model_len=2048)
    assert engine_max_len(SimpleNamespace(llm_engine=SimpleNamespace(model_config=cfg))) == 2048
    assert engine_max_len(SimpleNamespace(llm_engine=SimpleNamespace(vllm_config=SimpleNamespace(model_config=cfg)))) == 2048
    assert engine_max_len(SimpleNamespace(model_config=cfg)) == 2048
    assert engine_max_len(object()) is None


# ---------------------------------------------------------------- wiring, with a fake vLLM



class FakeSamplingParams:
    def __init__(self, **kw):
        self.kw = kw


class FakeLLM:
    """Records what the backend sends; answers like vllm.LLM.generate would."""

    def __init__(self, tokenizer, **engine_kw):
        self.tokenizer, self.engine_kw, self.calls = tokenizer, engine_kw, []
        max_len = engine_kw.get("max_model_len") or 4096
        self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=max_len))

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        if not isinstance(params, list):  # scoring: fake logprob -(position + token % 7) / 10
            return [
                _ro((0, ""), prompt_logprobs=[None] + [
                    {t: _lp(-(pos + t % 7) / 10), 0: _lp(-0.01)} for pos, t in enumerate(p["prompt_token_ids"]) if pos
                ])
                for p in prompts
            ]
        out = []
        for i, sp in enumerate(params):
            n = sp.kw["n"]
            out.append(_ro(*[(k, f"p{i}s{k}") for k in reversed(range(n))]))  # finish order != index order
        return out


@pytest.fixture
def fake_vllm(monkeypatch, tokenizer):
    mod = types.ModuleType("vllm")
    mod.SamplingParams = FakeSamplingParams
    mod.LLM = lambda **kw: FakeLLM(tokenizer, **kw)
    mod.inputs = types.ModuleType("vllm.inputs")
    mod.inputs.TokensPrompt = lambda **kw: dict(kw)  # a TypedDict in vLLM
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.inputs", mod.inputs)
    return mod


def _hf_encoder(tokenizer):
    from genrm.backends.hf import HFBackend

    hf = object.__new__(HFBackend)  # only render/encode are used: no model needed
    hf.tokenizer, hf.chat_template = tokenizer, True
    return hf


def test_constructor_passes_engine_options(fake_vllm):
    be = VLLMBackend(model="org/judge", dtype="bfloat16", tensor_parallel_size=2, gpu_memory_utilization=0.5,
                     max_model_len=1024, seed=3, enable_prefix_caching=False, engine_kwargs={"enforce_eager": True})
    assert be.llm.engine_kw == {
        "model": "org/judge", "dtype": "bfloat16", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5,
        "max_model_len": 1024, "seed": 3, "trust_remote_code": False, "enable_prefix_caching": False,
        "enforce_eager": True,
    }
    assert be.max_model_len == 1024 and be.tokenizer is be.llm.tokenizer


def test_encode_matches_hf_backend(fake_vllm, tokenizer):
    be, hf = VLLMBackend(llm=FakeLLM(tokenizer)), _hf_encoder(tokenizer)
    for prompt in [*CHAT, RAW, tokenizer.bos_token + RAW]:
        assert be.render(prompt) == hf.render(prompt)
        assert be.encode(prompt) == hf.encode(prompt)


def test_generate_sends_token_ids_and_per_prompt_params(fake_vllm, tokenizer):
    llm = FakeLLM(tokenizer)
    be, hf = VLLMBackend(llm=llm), _hf_encoder(tokenizer)
    out = be.generate([*CHAT, RAW], Sampling(temperature=0.8, n=2, seed=5, max_new_tokens=9))
    assert out == ["p0s0", "p0s1", "p1s0", "p1s1", "p2s0", "p2s1"]
    prompts, params = llm.calls[0]
    assert prompts == [{"prompt_token_ids": hf.encode(p)} for p in [*CHAT, RAW]]
    assert [p.kw["seed"] for p in params] == [request_seed(5, i) for i in range(3)]
    assert be.generate([*CHAT, RAW], Sampling(n=3)) == ["p0s0"] * 3 + ["p1s0"] * 3 + ["p2s0"] * 3
    assert be.generate([], Sampling()) == []


def test_generate_keeps_the_last_tokens_of_a_long_prompt(fake_vllm, tokenizer):
    llm = FakeLLM(tokenizer, max_model_len=40)
    be = VLLMBackend(llm=llm)
    long = " ".join(["word"] * 100)
    be.generate([long], Sampling(max_new_tokens=10))
    assert llm.calls[0][0][0]["prompt_token_ids"] == be.encode(long)[-30:]
    with pytest.raises(BackendError, match="no room"):
        be.generate([long], Sampling(max_new_tokens=40))


def test_loglikelihood_batch_scores_the_continuation_tokens(fake_vllm, tokenizer):
    llm = FakeLLM(tokenizer)
    be = VLLMBackend(llm=llm)
    pairs = [(CHAT[0], "Yes"), (RAW, " Paris, of course.")]
    got = be.loglikelihood_batch(pairs)
    for (prompt, cont), value in zip(pairs, got):
        p = be.encode(prompt)
        c = tokenizer(cont, add_special_tokens=False)["input_ids"]
        assert value == pytest.approx(sum(-(len(p) + j + t % 7) / 10 for j, t in enumerate(c)))
    prompts, params = llm.calls[0]
    assert prompts[1]["prompt_token_ids"][-len(c):] == c
    assert params.kw == {"max_tokens": 1, "temperature": 1.0, "prompt_logprobs": 1}
    assert be.loglikelihood(RAW, " Paris") == pytest.approx(be.loglikelihood_batch([(RAW, " Paris")])[0])
    with pytest.raises(BackendError, match="no tokens"):
        be.loglikelihood(RAW, "")


# ---------------------------------------------------------------- GPU: against HFBackend


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory, tokenizer):
    """vLLM and HF backends on one tiny random Llama (SmolLM2's tokenizer and chat template)."""
    pytest.importorskip("vllm")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from genrm.backends.hf import HFBackend

    path = tmp_path_factory.mktemp("tiny-llama")
    model = tiny_causal_lm(tokenizer, hidden_size=256, sharpen=10.0)  # peaked: fewer argmax near-ties
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    # float32 on both sides: greedy argmax must not flip on rounding differences.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine in this process (simpler teardown)
        vb = VLLMBackend(model=str(path), dtype="float32", gpu_memory_utilization=0.3, max_model_len=512,
                         engine_kwargs={"enforce_eager": True})
        hf = HFBackend(model=str(path), dtype="float32", device="cuda")
        yield vb, hf
    del vb, hf
    gc.collect()
    torch.cuda.empty_cache()


@pytest.mark.gpu
def test_gpu_greedy_matches_hf(tiny_llama):
    vb, hf = tiny_llama
    sampling = Sampling(max_new_tokens=12, n=2)
    got = vb.generate([*CHAT, RAW], sampling)
    assert got == hf.generate([*CHAT, RAW], sampling)
    assert len(got) == 6 and got[0] == got[1]


@pytest.mark.gpu
def test_gpu_loglikelihood_matches_hf(tiny_llama):
    vb, hf = tiny_llama
    pairs = [(CHAT[0], "Yes"), (CHAT[1], "Blue, like the sky."), (RAW, " Paris")]
    assert vb.loglikelihood_batch(pairs) == pytest.approx(hf.loglikelihood_batch(pairs), rel=1e-3, abs=1e-3)


@pytest.mark.gpu
def test_gpu_seeded_sampling_repeats(tiny_llama):
    vb, _ = tiny_llama
    s = Sampling(max_new_tokens=8, temperature=1.0, n=3, seed=7)
    first = vb.generate([*CHAT, RAW], s)
    assert len(first) == 9 and first == vb.generate([*CHAT, RAW], s)
    assert first != vb.generate([*CHAT, RAW], Sampling(max_new_tokens=8, temperature=1.0, n=3, seed=8))


@pytest.mark.gpu
def test_gpu_wraps_an_existing_engine(tiny_llama):
    vb, _ = tiny_llama
    wrapped = VLLMBackend(llm=vb.llm)
    sampling = Sampling(max_new_tokens=8)
    assert wrapped.generate([*CHAT, RAW], sampling) == vb.generate([*CHAT, RAW], sampling)


def test_engine_calls_are_serialised_across_threads(fake_vllm, tokenizer):
    """vLLM's LLM.generate collects every request that finishes while it steps the engine: two
    threads at once would take each other's outputs (genrm serve with batching.workers > 1)."""
    import threading
    import time

    llm = FakeLLM(tokenizer)
    inside, most = [0], [0]
    generate = llm.generate

    def slow_generate(*a, **kw):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        inside[0] -= 1
        return generate(*a, **kw)

    llm.generate = slow_generate
    be = VLLMBackend(llm=llm)
    threads = [threading.Thread(target=be.generate, args=([RAW], Sampling(max_new_tokens=2))) for _ in range(3)]
    threads += [threading.Thread(target=be.loglikelihood_batch, args=([(RAW, " Paris")],)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(llm.calls) == 5 and most[0] == 1
