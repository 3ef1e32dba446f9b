"""OpenRLHF (0.11): the GenRM as `--reward.remote_url`.

Two ways in, one protocol (`{"query", "prompts", "labels"}` -> `{"rewards", "scores",
"extra_logs"}`, one entry per query):

* HTTP: run `genrm serve ...` and pass `--reward.remote_url http://127.0.0.1:8000/get_reward`
  (0.10 and older: `--remote_rm_url`). OpenRLHF's client sends one query per request
  during rollouts, waits 180 s and tries 5 times.
* In process: pass this file, `--reward.remote_url $(python -c "import genrm.rlhf.openrlhf as m; print(m.__file__)")`.
  OpenRLHF loads it by path and calls `reward_func(queries, prompts, labels)`
  positionally, one sample per call, from worker threads. The GenRM and strategy come
  from the recipe named by `GENRM_REWARD_RECIPE` (a `genrm.rlhf.service.ServiceConfig`
  YAML, read by `load_service_config`; default: the embedded SmolLM2 with the `reference`
  strategy), loaded once per process; concurrent calls are batched together.

The protocol itself (reading `query`, which holds the prompt and the response with the
chat template's special tokens, and the response body) is `genrm.rlhf.openrlhf_protocol`,
shared with the server. `labels` are the reference answers (`--data.label_key`) for the
`reference` strategy.

Unscored completions (every judge call failed or gave no verdict) are never sent as 0:
`reward_func` raises (OpenRLHF logs it and keeps no reward for the sample), and the
server answers 503 so OpenRLHF's client asks again.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from genrm.rlhf.openrlhf_protocol import parse_request, payload, sample
from genrm.rlhf.service import ServiceThread, Unscored, build_service, load_service_config

_lock = threading.Lock()
_thread: ServiceThread | None = None


def _service() -> ServiceThread:
    global _thread
    with _lock:
        if _thread is None:
            cfg = load_service_config(os.environ.get("GENRM_REWARD_RECIPE") or None)
            _thread = ServiceThread(lambda: build_service(cfg))
        return _thread


def reward_func(queries: list[str], prompts: list[str], labels: list[Any], **kwargs: Any) -> dict:
    """OpenRLHF's in-process reward function (see the module doc)."""
    import torch  # lazy: torch is heavy, and only OpenRLHF (which has it) calls this

    queries, prompts, labels = parse_request({"query": queries, "prompts": prompts, "labels": labels})
    thread = _service()

    async def score_all():
        return await asyncio.gather(*(thread.service.score_one(*sample(q, p, lab), key=p) for q, p, lab in
                                      zip(queries, prompts, labels)))

    scored = thread.call(score_all())
    scores = [s for s, _ in scored]
    if any(s is None for s in scores):
        raise Unscored(f"{sum(s is None for s in scores)} of {len(scores)} completion(s) got no verdict from the GenRM")
    body = payload(scores, [r for _, r in scored])
    t = torch.tensor(scores, dtype=torch.float32)
    return {"rewards": t, "scores": t, "extra_logs": {k: torch.tensor(v) for k, v in body["extra_logs"].items()}}
