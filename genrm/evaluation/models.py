"""The three model kinds behind one interface: `compare(comparisons, on_result)`.

- `GenRM`: pairwise judging through `genrm.evaluation.judging.judge_records` (the trainer's
  path), every comparison in both orders by default.
- `ScalarRM`: `AutoModelForSequenceClassification`; each (prompt, response) is
  scored once and every comparison reuses the scores.
- `ProxyRM`: an instruction-tuned LM scored by the log-likelihood of the response
  given the prompt (summed, or per response token), batched through
  `loglikelihood_batch`; scores are cached like the scalar RM's.

Each comparison's result is a dict with `id`, `votes` (+1 chosen / -1 rejected /
0 tie or invalid, one per judgment), `correct` (votes sum above 0) and `error`
(a backend call that failed for good: reported, never scored); a GenRM adds its
`judgments`, a scoring model `scores` = [chosen, rejected].
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

from tqdm.auto import tqdm

from genrm.assets import resolve_model
from genrm.backends import make_backend
from genrm.evaluation.judging import judge_records
from genrm.evaluation.schema import ModelSpec
from genrm.judge.config import JudgeConfig, judge_for_model
from genrm.judge.multiway import Request, judge_requests
from genrm.judge.votes import score_vote
from genrm.redact import redact_url

OnResult = Callable[[dict], None]


@dataclass
class Comparison:
    """One pair to compare. Has the attributes `judge_records` reads from a record, so pairs
    that are no valid `PreferenceRecord` (two identical responses, counted by RM-Bench and
    JudgeBench) are judged the same way."""

    id: str
    prompt: list[dict]
    chosen: str
    rejected: str
    chosen_position: str = "A"
    source: str = ""
    domain: str = "general"
    rationale_units: list[str] = field(default_factory=list)


def is_endpoint(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


_TRAINER_SUBDIRS = ("final", "model", "merged")


def _is_model_dir(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, n)) for n in ("config.json", "adapter_config.json"))


def resolve_ref(ref: str) -> str:
    """A local model directory (a trainer output directory resolves to its final model),
    `embedded:<name>` converted, or a hub id unchanged."""
    if ref.startswith("embedded:"):
        return resolve_model(ref)
    if not os.path.isdir(ref):
        if os.path.exists(ref) or ref.startswith((".", "/", "~")):
            raise ValueError(f"model {ref!r}: not a model directory (no config.json or adapter_config.json)")
        return ref  # hub id
    if _is_model_dir(ref):
        return ref
    for sub in _TRAINER_SUBDIRS:
        if _is_model_dir(os.path.join(ref, sub)):
            return os.path.join(ref, sub)
    ckpts = sorted((d for d in os.listdir(ref) if d.startswith("checkpoint-") and d[11:].isdigit()),
                   key=lambda d: int(d[11:]))
    if ckpts and _is_model_dir(os.path.join(ref, ckpts[-1])):
        return os.path.join(ref, ckpts[-1])
    raise ValueError(f"model {ref!r}: a directory without a model (looked for config.json, adapter_config.json, "
                     f"{'/, '.join(_TRAINER_SUBDIRS)}/ and checkpoint-N/)")


# ----------------------------------------------------------------------------- GenRM


class GreedyMemo:
    """A judge backend whose greedy answers are remembered for one run: suites that share
    records (the social and rationale suites on one held-out split) judge each prompt once.
    Sampled generations (temperature > 0) and failed calls (None) are never remembered."""

    def __init__(self, backend: Any):
        self.inner, self.memo, self.hits = backend, {}, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate(self, prompts: Sequence[list[dict]], sampling: Any) -> list[Optional[str]]:
        if sampling.temperature > 0:
            return self.inner.generate(prompts, sampling)
        keys = [json.dumps([p, asdict(sampling)], sort_keys=True) for p in prompts]
        todo = list(dict.fromkeys(k for k in keys if k not in self.memo))
        if todo:
            first = {k: prompts[keys.index(k)] for k in todo}
            for k, text in zip(todo, self.inner.generate([first[k] for k in todo], sampling)):
                if text is not None:
                    self.memo[k] = text
        self.hits += len(keys) - len(todo)
        return [self.memo.get(k) for k in keys]


class GenRM:
    kind = "genrm"

    def __init__(self, backend: Any, judge: JudgeConfig, seed: int, matcher: Any = None):
        self.backend = GreedyMemo(backend)
        self.judge = judge
        self.matcher = matcher
        self.orders = ("AB", "BA") if judge.orders == "both" else ("as_placed",)
        self.sampling = judge.sampling(seed=seed)  # the run's seed (the recipe refuses judge.seed)

    def compare(self, comparisons: Sequence[Comparison | Request], on_result: OnResult, desc: str = "judge") -> int:
        """Judge every comparison (and generate every `Request`); returns the number of judge calls."""
        def finished(item: dict) -> None:
            for j in item["judgments"]:
                j.pop("reasons", None)  # re-derivable from the text; keeps the JSONL small
            on_result(item)

        hits = self.backend.hits
        # Non-pairwise protocols (RewardBench 2's official 4-way ranking and ratings) are Requests
        requests = [c for c in comparisons if isinstance(c, Request)]
        pairs = [c for c in comparisons if not isinstance(c, Request)]
        calls = judge_requests(self.backend, requests, self.sampling, chunk_size=self.judge.chunk_size,
                               on_result=on_result, desc=desc) if requests else 0
        if pairs:
            calls += judge_records(pairs, self.backend, style=self.judge.style, template=self.judge.template,
                                   sampling=self.sampling, orders=self.orders, matcher=self.matcher,
                                   top_k=self.judge.top_k, chunk_size=self.judge.chunk_size, on_item=finished,
                                   desc=desc).judge_calls
        return calls - (self.backend.hits - hits)  # generations run, not remembered ones


# ----------------------------------------------------------------------------- scoring models


class ScoringModel:
    """A model that scores (prompt, response) once; comparisons reuse the cached scores."""

    kind = "scoring"

    def __init__(self, batch_size: int = 16):
        self.batch_size = max(1, batch_size)
        self._cache: dict[str, float] = {}

    @staticmethod
    def _key(prompt: list[dict], response: str) -> str:
        return json.dumps([prompt, response], ensure_ascii=False, sort_keys=True)

    def _score_batch(self, pairs: list[tuple[list[dict], str]]) -> list[float]:
        raise NotImplementedError

    def score(self, pairs: Sequence[tuple[list[dict], str]]) -> list[float]:
        """Scores of (prompt messages, response) pairs; each distinct pair is computed once."""
        todo: dict[str, tuple[list[dict], str]] = {}
        for p, r in pairs:
            k = self._key(p, r)
            if k not in self._cache:
                todo.setdefault(k, (p, r))
        keys = list(todo)
        for start in range(0, len(keys), self.batch_size * 4):
            chunk = keys[start : start + self.batch_size * 4]
            for k, s in zip(chunk, self._score_batch([todo[k] for k in chunk])):
                self._cache[k] = float(s)
        return [self._cache[self._key(p, r)] for p, r in pairs]

    def compare(self, comparisons: Sequence[Comparison], on_result: OnResult, desc: str = "score") -> int:
        """Score both sides of every comparison; returns the number of responses scored."""
        before = len(self._cache)
        bar = tqdm(total=len(comparisons), desc=desc, unit="cmp", leave=False)
        step = self.batch_size * 4
        for start in range(0, len(comparisons), step):
            chunk = comparisons[start : start + step]
            scores = self.score([(c.prompt, r) for c in chunk for r in (c.chosen, c.rejected)])
            for k, c in enumerate(chunk):
                sc, sr = scores[2 * k], scores[2 * k + 1]
                v = score_vote(sc, sr)
                on_result({"id": c.id, "source": c.source, "domain": c.domain, "scores": [sc, sr], "votes": [v],
                           "correct": v > 0, "error": None})
            bar.update(len(chunk))
        bar.close()
        return len(self._cache) - before


class ProxyRM(ScoringModel):
    kind = "proxy"

    def __init__(self, backend: Any, normalize: str = "mean", batch_size: int = 16):
        super().__init__(batch_size)
        if not hasattr(backend, "loglikelihood_batch"):
            raise ValueError(f"model kind 'proxy' needs a local backend with loglikelihood_batch, got {backend!r}")
        self.backend = backend
        self.normalize = normalize

    def _score_batch(self, pairs: list[tuple[list[dict], str]]) -> list[float]:
        sums = self.backend.loglikelihood_batch(pairs)
        if self.normalize == "sum":
            return sums
        tok = self.backend.tokenizer
        return [s / len(tok(r, add_special_tokens=False)["input_ids"]) for s, (_, r) in zip(sums, pairs)]


class ScalarRM(ScoringModel):
    kind = "scalar"

    def __init__(self, path: str, *, dtype: str = "auto", device: str = "auto", batch_size: int = 16,
                 max_length: Optional[int] = None, trust_remote_code: bool = False, model_obj: Any = None,
                 tokenizer: Any = None, num_threads: Optional[int] = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        super().__init__(batch_size)
        if num_threads:
            torch.set_num_threads(num_threads)
        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           "cpu" if device == "auto" else device)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if model_obj is None:
            dt = ({"auto": torch.bfloat16 if dev.type == "cuda" else torch.float32}.get(dtype)
                  or getattr(torch, dtype))
            model_obj = AutoModelForSequenceClassification.from_pretrained(path, dtype=dt,
                                                                           trust_remote_code=trust_remote_code)
        if model_obj.config.num_labels != 1:
            raise ValueError(f"scalar RM {path!r} has num_labels={model_obj.config.num_labels}; a reward model "
                             "has one output (num_labels=1)")
        model_obj.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = model_obj.to(dev).eval()
        self.device = dev
        self.max_length = max_length

    def text(self, prompt: list[dict], response: str) -> str:
        """The conversation the reward model reads (its chat template, when it has one)."""
        conv = list(prompt) + [{"role": "assistant", "content": response}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(conv, tokenize=False)
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in conv)

    def _score_batch(self, pairs: list[tuple[list[dict], str]]) -> list[float]:
        import torch

        texts = [self.text(p, r) for p, r in pairs]
        special = not getattr(self.tokenizer, "chat_template", None)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = [0.0] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                group = order[start : start + self.batch_size]
                enc = self.tokenizer([texts[i] for i in group], padding=True, truncation=self.max_length is not None,
                                     max_length=self.max_length, add_special_tokens=special, return_tensors="pt")
                logits = self.model(**enc.to(self.device)).logits.float()
                for row, i in enumerate(group):
                    out[i] = float(logits[row, 0])
        return out


# ----------------------------------------------------------------------------- loading


def _backend_kwargs(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    kw = dict(spec.backend)
    kind = kw.pop("kind", "openai" if is_endpoint(spec.ref) else "hf")
    return kind, kw


def load_backend(spec: ModelSpec, cache: Optional[dict] = None) -> Any:
    """The generation backend of a GenRM or proxy spec (shared through `cache` within one run)."""
    kind, kw = _backend_kwargs(spec)
    if kind == "openai" or is_endpoint(spec.ref):
        if not is_endpoint(spec.ref):
            raise ValueError(f"model {spec.ref!r}: backend kind 'openai' needs an http(s):// endpoint as ref")
        cfg = {"kind": "openai", "base_url": spec.ref, "model": spec.api_model or _served_model(spec.ref), **kw}
    else:
        cfg = {"kind": kind, "model": resolve_ref(spec.ref), **kw}
    key = json.dumps(cfg, sort_keys=True, default=str)
    if cache is not None and key in cache:
        return cache[key]
    backend = make_backend(cfg)
    if cache is not None:
        cache[key] = backend
    return backend


def _served_model(base_url: str) -> str:
    """The first model an OpenAI-compatible server lists (used when `api_model` is not set)."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY") or "EMPTY", timeout=30.0)
    try:
        models = [m.id for m in client.models.list()]
    except openai.OpenAIError as e:
        raise ValueError(f"model endpoint {redact_url(base_url)}: could not list its models ({type(e).__name__}); "
                         "set api_model=<name>") from None
    if not models:
        raise ValueError(f"model endpoint {redact_url(base_url)} lists no models; set api_model=<name>")
    return models[0]


def load_model(spec: ModelSpec, judge: JudgeConfig, seed: int, *, matcher: Any = None,
               cache: Optional[dict] = None) -> Any:
    """The model object of one spec (GenRM, ProxyRM or ScalarRM)."""
    if spec.kind == "genrm":
        # the prompt the model was trained on, unless the recipe names one
        ref = spec.ref if is_endpoint(spec.ref) else resolve_ref(spec.ref)
        return GenRM(load_backend(spec, cache), judge_for_model(ref, judge), seed, matcher)
    if spec.kind == "proxy":
        if is_endpoint(spec.ref):
            raise ValueError(f"model {redact_url(spec.ref)!r}: kind 'proxy' needs a local model (the server's chat "
                             "template is unknown here, so prompts cannot be rendered exactly)")
        return ProxyRM(load_backend(spec, cache), spec.normalize, spec.batch_size)
    if is_endpoint(spec.ref):
        raise ValueError(f"model {redact_url(spec.ref)!r}: kind 'scalar' needs a local or hub "
                         "sequence-classification model")
    kw = dict(spec.backend)  # checked against SCALAR_OPTIONS when the recipe loaded (ModelSpec.validate)
    kw.pop("kind", None)
    return ScalarRM(resolve_ref(spec.ref), batch_size=spec.batch_size, max_length=spec.max_length, **kw)
