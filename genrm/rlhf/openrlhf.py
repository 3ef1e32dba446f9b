"""OpenRLHF (0.11): the GenRM as `--reward.remote_url`.

Two ways in, one protocol (`{"query", "prompts", "labels"}` -> `{"rewards", "scores",
"extra_logs"}`, one entry per query):

* HTTP: run `genrm serve ...` and pass `--reward.remote_url http://127.0.0.1:8000/get_reward`
  (0.10 and older: `--remote_rm_url`). OpenRLHF's client sends one query per request
  during rollouts, waits 180 s and tries 5 times.
* In process: pass this file, `--reward.remote_url $(python -c "import genrm.rlhf.openrlhf as m; print(m.__file__)")`.
  OpenRLHF loads it by path and calls `reward_func(queries, prompts, labels)`
  positionally, one sample per call, from worker threads. The GenRM and strategy come
  from the recipe named by `GENRM_REWARD_RECIPE` (a `genrm.rlhf.service.RewardConfig`
  YAML; default: the embedded SmolLM2 with the `reference` strategy), loaded once per
  process; concurrent calls are batched together.

`query` is `decode(prompt_ids + response_ids, skip_special_tokens=False)`: the chat
template's special tokens are in it, and the prompt may have been cut from the left to
fit `max_len`. `recover_response` takes the response back out; `prompt_messages` turns
the templated prompt back into chat messages for the judge. `labels` are the reference
answers (`--data.label_key`) for the `reference` strategy.

Unscored completions (every judge call failed or gave no verdict) are never sent as 0:
`reward_func` raises (OpenRLHF logs it and keeps no reward for the sample), and the
server answers 503 so OpenRLHF's client asks again.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Sequence

from genrm.rlhf.service import Unscored
from genrm.rlhf.scalarize import GroupResult

# End-of-turn / padding markers that may trail a decoded response.
_TAIL = re.compile(r"(?:\s|<\|[^<>|]{1,40}\|>|</s>|<eos>|<end_of_turn>|<pad>)+\Z")
_SPECIAL = re.compile(r"<\|[^<>|]{1,40}\|>|</?s>|<eos>|<bos>|<pad>|<start_of_turn>|<end_of_turn>|\[/?INST\]")
# (turn opener, closer) per chat format: ChatML (Qwen, SmolLM), Llama 3, Gemma.
_TURNS = (
    re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|\Z)", re.S),
    re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n(.*?)(?:<\|eot_id\|>|\Z)", re.S),
    re.compile(r"<start_of_turn>(\w+)\n(.*?)(?:<end_of_turn>|\Z)", re.S),
)
_ASSISTANT_OPENERS = ("<|im_start|>assistant\n", "<|start_header_id|>assistant<|end_header_id|>\n\n",
                      "<start_of_turn>model\n", "[/INST]")


class ProtocolError(ValueError):
    """A request body that does not follow the OpenRLHF reward protocol."""


def strip_tail(text: str) -> str:
    """`text` without trailing end-of-turn/padding tokens and whitespace."""
    return _TAIL.sub("", text)


def recover_response(query: str, prompt: str | None) -> str:
    """The policy's response inside an OpenRLHF `query` (prompt + response, special tokens kept)."""
    if prompt and query.startswith(prompt):
        return strip_tail(query[len(prompt):])
    if prompt:  # the prompt was cut from the left: the query starts with a suffix of it
        for p in range(1, len(prompt)):
            if query.startswith(prompt[p:]) and len(prompt) - p >= 16:
                return strip_tail(query[len(prompt) - p:])
    cuts = [query.rfind(o) + len(o) for o in _ASSISTANT_OPENERS if o in query]
    return strip_tail(query[max(cuts):] if cuts else query)


def prompt_messages(prompt: str) -> list[dict] | str:
    """Chat messages from a prompt rendered with a chat template (ChatML, Llama 3, Gemma);
    other formats: the text without special tokens. The empty assistant turn the
    generation prompt opens is dropped."""
    for pattern in _TURNS:
        turns = [(role, text.strip()) for role, text in pattern.findall(prompt)]
        if turns:
            msgs = [{"role": "assistant" if r == "model" else r, "content": t} for r, t in turns]
            while msgs and msgs[-1]["role"] == "assistant" and not msgs[-1]["content"]:
                msgs.pop()
            if msgs:
                return msgs
    return _SPECIAL.sub("", prompt).strip()


def parse_request(body: Any) -> tuple[list[str], list[str | None], list[Any]]:
    """(queries, prompts, labels) of a /get_reward body, or ProtocolError naming the field."""
    if not isinstance(body, dict):
        raise ProtocolError("body must be a JSON object with 'query', 'prompts' and 'labels'")
    queries = body.get("query")
    if isinstance(queries, str):
        queries = [queries]
    if not isinstance(queries, list) or not queries or not all(isinstance(q, str) for q in queries):
        raise ProtocolError("field 'query' must be a non-empty list of strings")
    out = []
    for name in ("prompts", "labels"):
        value = body.get(name)
        if value is None:
            value = [None] * len(queries)
        if not isinstance(value, list) or len(value) != len(queries):
            raise ProtocolError(f"field '{name}' must be a list with one entry per query ({len(queries)})")
        out.append(value)
    prompts, labels = out
    if not all(p is None or isinstance(p, str) for p in prompts):
        raise ProtocolError("field 'prompts' must hold strings")
    return queries, prompts, labels


def sample(query: str, prompt: str | None, label: Any) -> tuple[Any, str, str | None]:
    """(judge prompt, response, reference) of one OpenRLHF sample."""
    response = recover_response(query, prompt)
    judge_prompt = prompt_messages(prompt) if prompt else prompt_messages(query[: len(query) - len(response)])
    reference = None if label is None or label == "" else str(label)
    return judge_prompt, response, reference


def payload(scores: Sequence[float], results: Sequence[GroupResult]) -> dict:
    """The response body: rewards and scores per query, extra_logs averaged over them."""
    n = max(1, len(results))
    logs = {f"genrm/{k}": sum(r.metrics()[k] for r in results) / n for k in ("judge_calls", "invalid_verdicts", "ties")}
    return {"rewards": list(scores), "scores": list(scores), "extra_logs": logs}


# ----------------------------------------------------------------------------- reward_func

_lock = threading.Lock()
_thread = None


def _service():
    global _thread
    with _lock:
        if _thread is None:
            from genrm.config import from_dict
            from genrm.rlhf.service import RewardConfig, ServiceThread, build_service

            path = os.environ.get("GENRM_REWARD_RECIPE")
            if path:
                import yaml

                with open(path, encoding="utf-8") as f:
                    cfg = from_dict(RewardConfig, yaml.safe_load(f) or {})
            else:
                cfg = RewardConfig()
            _thread = ServiceThread(lambda: build_service(cfg))
        return _thread


def reward_func(queries: list[str], prompts: list[str], labels: list[Any], **kwargs: Any) -> dict:
    """OpenRLHF's in-process reward function (see the module doc)."""
    import torch

    queries, prompts, labels = parse_request({"query": queries, "prompts": prompts, "labels": labels})
    thread = _service()

    async def score_all():
        import asyncio

        return await asyncio.gather(*(thread.service.score_one(*sample(q, p, lab), key=p) for q, p, lab in
                                      zip(queries, prompts, labels)))

    scored = thread.call(score_all())
    scores = [s for s, _ in scored]
    if any(s is None for s in scores):
        raise Unscored(f"{sum(s is None for s in scores)} of {len(scores)} completion(s) got no verdict from the GenRM")
    body = payload(scores, [r for _, r in scored])
    t = torch.tensor(scores, dtype=torch.float32)
    return {"rewards": t, "scores": t, "extra_logs": {k: torch.tensor(v) for k, v in body["extra_logs"].items()}}
