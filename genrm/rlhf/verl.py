"""verl (0.9/0.10): the GenRM as `reward.custom_reward_function`.

    reward.custom_reward_function.path=pkg://genrm.rlhf.verl
    reward.custom_reward_function.name=compute_score_async      # or compute_score (sync)
    +reward.custom_reward_function.reward_kwargs.strategy=reference
    +reward.custom_reward_function.reward_kwargs.judge_model=/ckpt/genrm   # or judge_url=http://host:8000/v1

(verl migrates the legacy top-level `custom_reward_function.*` keys.) verl's reward
manager calls `compute_score(data_source=, solution_str=, ground_truth=, extra_info=,
**reward_kwargs)` once per sample: the sync one in a thread pool, the async one on the
reward loop. The result is a dict: `score` plus `genrm_*` counts, which verl logs.

GenRM reward loop: with `reward.reward_model.enable=true` and
`reward.reward_model.model_path=<the GenRM>`, verl serves the GenRM itself and adds
`reward_router_address` ("host:port") and `reward_model_tokenizer`; the judge is then
that server's `/v1/chat/completions`, asked for model `reward_model_tokenizer.name_or_path`
(verl's served name is the model path; `judge_served_name` overrides it).

reward_kwargs (all optional):
  genrm_recipe      a `genrm.rlhf.service.ServiceConfig` YAML (judge, strategy, batching)
  strategy          reference | round_robin | bradley_terry | sampled_round_robin
  judge_model       HF dir / hub id of the GenRM, run in the reward worker (backend hf)
  judge_url         an OpenAI-compatible base URL serving the GenRM (backend openai)
  judge_served_name model name to ask judge_url / the router for
  judge_template    a judge prompt template (.jinja path)
  max_new_tokens    judge generation budget
  group_size        completions per prompt (rollout.n) for group-wise strategies
  prompt_key        extra_info key holding the prompt (default: question, prompt or raw_prompt)
  on_unscored       "raise" (default) or a number to use, explicitly, when no verdict came back

`reference` compares the response with `ground_truth` (2 judge calls). Group-wise
strategies buffer samples by prompt until `group_size` arrived; verl spreads a batch
over `reward.num_workers` workers, so keep a group on one worker (`num_workers=1`) or
use `reference`. An unscored sample raises (verl stops with the error) unless
`on_unscored` names the value to use; it is counted in `genrm_unscored` either way.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from typing import Any

from genrm.rlhf.service import RewardService, ServiceConfig, ServiceThread, Unscored, build_service, load_service_config

_KWARGS = ("genrm_recipe", "strategy", "judge_model", "judge_url", "judge_served_name", "judge_template",
           "max_new_tokens", "group_size", "prompt_key", "on_unscored", "reward_router_address",
           "reward_model_tokenizer")
_PROMPT_KEYS = ("question", "prompt", "raw_prompt")


def reward_config(kw: dict) -> ServiceConfig:
    """The ServiceConfig that verl's reward_kwargs (plus the router, when verl serves the GenRM) describe:
    the `genrm_recipe` YAML, with each key the other kwargs name replaced."""
    unknown = sorted(set(kw) - set(_KWARGS))
    if unknown:
        raise ValueError(f"unknown reward_kwargs {', '.join(unknown)} for genrm.rlhf.verl; known: {', '.join(_KWARGS)}")
    data: dict[str, Any] = {}
    judge = data.setdefault("judge", {})
    if kw.get("reward_router_address"):
        tok = kw.get("reward_model_tokenizer")
        name = kw.get("judge_served_name") or getattr(tok, "name_or_path", None)
        if not name:
            raise ValueError("reward loop: cannot tell the served GenRM's name; set reward_kwargs.judge_served_name")
        judge["backend"] = {"kind": "openai", "base_url": f"http://{kw['reward_router_address']}/v1", "model": name}
    elif kw.get("judge_url"):
        judge["backend"] = {"kind": "openai", "base_url": kw["judge_url"], "model": kw.get("judge_served_name") or "genrm"}
    elif kw.get("judge_model"):
        judge["backend"] = {"kind": "hf", "model": kw["judge_model"]}
    if kw.get("judge_template"):
        judge["template"] = kw["judge_template"]
    if kw.get("max_new_tokens"):
        judge["max_new_tokens"] = int(kw["max_new_tokens"])
    if kw.get("strategy"):
        data.setdefault("strategy", {})["name"] = kw["strategy"]
    if kw.get("group_size"):
        data.setdefault("batching", {})["group_size"] = int(kw["group_size"])
    return load_service_config(kw.get("genrm_recipe") or None, data)


def _prompt(extra_info: dict | None, key: str | None) -> Any:
    info = extra_info or {}
    for k in ([key] if key else _PROMPT_KEYS):
        if info.get(k) is not None:
            p = info[k]
            return list(p) if not isinstance(p, (str, list)) else p  # numpy arrays of messages from parquet
    raise ValueError(f"genrm.rlhf.verl: the judge needs the prompt; extra_info has no "
                     f"{' / '.join(repr(k) for k in ([key] if key else _PROMPT_KEYS))} "
                     f"(keys: {sorted(info)}); add it in preprocessing or set reward_kwargs.prompt_key")


def _result(score: float | None, group, on_unscored: Any) -> dict:
    unscored = int(score is None)
    if score is None:
        if on_unscored in (None, "raise"):
            raise Unscored(f"the GenRM gave no verdict ({group.failed} failed call(s), {group.invalid} unreadable "
                           f"of {group.calls}); set reward_kwargs.on_unscored to a value to go on")
        score = float(on_unscored)
    return {"score": float(score), "genrm_judge_calls": group.calls, "genrm_failed_calls": group.failed,
            "genrm_invalid_verdicts": group.invalid, "genrm_unscored": unscored}


def _key(kw: dict) -> str:
    plain = {k: v for k, v in kw.items() if k not in ("reward_model_tokenizer", "prompt_key", "on_unscored")}
    plain["_served"] = getattr(kw.get("reward_model_tokenizer"), "name_or_path", None)
    return json.dumps(plain, sort_keys=True, default=str)


_loop_services: "weakref.WeakKeyDictionary[Any, dict[str, RewardService]]" = weakref.WeakKeyDictionary()
_thread_services: dict[str, ServiceThread] = {}
_lock = threading.Lock()


async def compute_score_async(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                              **kwargs: Any) -> dict:
    """verl's async custom reward function (runs on verl's reward loop)."""
    services = _loop_services.setdefault(asyncio.get_running_loop(), {})  # a service lives on its loop
    key = _key(kwargs)
    svc = services.get(key)
    if svc is None:
        svc = services[key] = build_service(reward_config(kwargs))
    prompt = _prompt(extra_info, kwargs.get("prompt_key"))
    ref = None if ground_truth is None else str(ground_truth)
    score, group = await svc.score_one(prompt, solution_str, ref)
    return _result(score, group, kwargs.get("on_unscored"))


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs: Any) -> dict:
    """verl's sync custom reward function (called from verl's thread pool; calls are batched)."""
    key = _key(kwargs)
    with _lock:
        thread = _thread_services.get(key)
        if thread is None:
            cfg = reward_config(kwargs)
            thread = _thread_services[key] = ServiceThread(lambda: build_service(cfg))
    prompt = _prompt(extra_info, kwargs.get("prompt_key"))
    ref = None if ground_truth is None else str(ground_truth)
    score, group = thread.call(thread.service.score_one(prompt, solution_str, ref))
    return _result(score, group, kwargs.get("on_unscored"))
