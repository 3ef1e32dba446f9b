"""The verl adapter, called the way verl's reward loop calls a custom reward function:
loaded from `pkg://genrm.rlhf.verl`, wrapped with the reward_kwargs, then
`NaiveRewardManager.run_single` per sample (sync functions in the loop's thread pool,
async ones awaited) for all samples of a batch at once (`RewardLoopWorker.compute_score_batch`).
The judge is a real HTTP server on 127.0.0.1."""

import asyncio
import importlib
import inspect
from functools import partial

import pytest

from genrm.testing import FakeOpenAIServer
from genrm.testing.scripted_backend import ScriptedBackend


def _load(path: str, name: str, reward_kwargs: dict):
    """verl.trainer.ppo.reward.get_custom_reward_fn for a pkg:// path."""
    module = importlib.import_module(path[len("pkg://"):].replace("/", "."))
    raw = getattr(module, name)

    def call(*args, **kwargs):
        return raw(*args, **{**kwargs, **reward_kwargs})

    async def acall(*args, **kwargs):
        return await raw(*args, **{**kwargs, **reward_kwargs})

    return partial(acall) if inspect.iscoroutinefunction(raw) else partial(call)


async def _run_single(fn, sample: dict, router=None, tokenizer=None) -> dict:
    """verl.experimental.reward_loop.reward_manager.naive.NaiveRewardManager.run_single."""
    loop = asyncio.get_running_loop()
    extra = {"reward_router_address": router, "reward_model_tokenizer": tokenizer} if router else {}
    kw = dict(data_source=sample["data_source"], solution_str=sample["response"],
              ground_truth=sample["reward_model"]["ground_truth"], extra_info=sample.get("extra_info", {}), **extra)
    if inspect.iscoroutinefunction(fn):
        result = await fn(**kw)
    else:
        result = await loop.run_in_executor(None, lambda: fn(**kw))
    if isinstance(result, dict):
        return {"reward_score": result["score"], "reward_extra_info": dict(result)}
    return {"reward_score": result, "reward_extra_info": {"acc": result}}


def _batch(fn, samples, **kw) -> list[dict]:
    async def main():
        return await asyncio.gather(*(_run_single(fn, s, **kw) for s in samples))

    return asyncio.run(main())


def _sample(response: str, truth: str | None, question="I have 100 apples. Rate me.") -> dict:
    return {"data_source": "test", "response": response, "reward_model": {"ground_truth": truth},
            "extra_info": {"question": question, "index": 0}}


def _scripted_reply(body: dict) -> str:
    return ScriptedBackend().generate([body["messages"]])[0]


@pytest.fixture()
def judge_server():
    with FakeOpenAIServer(default=_scripted_reply, model="genrm-judge") as srv:
        yield srv


@pytest.mark.parametrize("name", ["compute_score", "compute_score_async"])
def test_reference_strategy_sync_and_async(judge_server, name):
    fn = _load("pkg://genrm.rlhf.verl", name, {"judge_url": judge_server.url, "judge_served_name": "genrm-judge"})
    out = _batch(fn, [_sample(f"score {k}", "score 5") for k in (9, 5, 1)])
    assert [o["reward_score"] for o in out] == [1.0, 0.5, 0.0]
    info = out[0]["reward_extra_info"]
    assert info["genrm_judge_calls"] == 2 and info["genrm_unscored"] == 0 and info["genrm_invalid_verdicts"] == 0
    assert judge_server.requests == 6 and {b["model"] for b in judge_server.bodies} == {"genrm-judge"}
    assert "I have 100 apples" in judge_server.bodies[0]["messages"][-1]["content"]


def test_reward_loop_mode_asks_the_router_for_the_served_genrm(judge_server, tokenizer):
    fn = _load("pkg://genrm.rlhf.verl", "compute_score_async", {})
    router = judge_server.url.removeprefix("http://").removesuffix("/v1")  # verl passes "host:port"
    out = _batch(fn, [_sample("score 7", "score 3")], router=router, tokenizer=tokenizer)
    assert out[0]["reward_score"] == 1.0
    assert {b["model"] for b in judge_server.bodies} == {tokenizer.name_or_path}


def test_group_strategy_buffers_a_group_by_prompt(judge_server):
    fn = _load("pkg://genrm.rlhf.verl", "compute_score_async",
               {"judge_url": judge_server.url, "strategy": "round_robin", "group_size": 3})
    out = _batch(fn, [_sample(f"score {k}", None, question="Rate these.") for k in (2, 6, 4)])
    assert [o["reward_score"] for o in out] == [0.0, 1.0, 0.5]
    assert out[0]["reward_extra_info"]["genrm_judge_calls"] == 6


def test_unscored_raises_unless_told_what_to_use(judge_server):
    judge_server.default = lambda body: "I cannot decide."
    fn = _load("pkg://genrm.rlhf.verl", "compute_score", {"judge_url": judge_server.url})
    from genrm.rlhf.verl import Unscored

    with pytest.raises(Unscored, match="no verdict \\(0 failed call\\(s\\), 2 unreadable of 2\\)"):
        _batch(fn, [_sample("score 1", "score 2")])
    fn = _load("pkg://genrm.rlhf.verl", "compute_score", {"judge_url": judge_server.url, "on_unscored": -1.0})
    [out] = _batch(fn, [_sample("score 1", "score 2")])
    assert out["reward_score"] == -1.0 and out["reward_extra_info"]["genrm_unscored"] == 1


def test_bad_kwargs_and_missing_prompt_fail_clearly(judge_server):
    from genrm.rlhf.verl import compute_score

    with pytest.raises(ValueError, match="unknown reward_kwargs judge_modle"):
        compute_score("d", "r", "g", {"question": "q"}, judge_modle="x")
    with pytest.raises(ValueError, match="extra_info has no 'question' / 'prompt' / 'raw_prompt' \\(keys: \\['index'\\]\\)"):
        compute_score("d", "r", "g", {"index": 0}, judge_url=judge_server.url)
    [out] = _batch(_load("pkg://genrm.rlhf.verl", "compute_score",
                         {"judge_url": judge_server.url, "prompt_key": "q2"}),
                   [{**_sample("score 3", "score 1"), "extra_info": {"q2": [{"role": "user", "content": "hi"}]}}])
    assert out["reward_score"] == 1.0


@pytest.mark.slow
def test_reward_loop_with_the_embedded_model_served_over_http(tokenizer):
    """verl serves the GenRM (here the embedded SmolLM2 behind an OpenAI-compatible server)."""
    from genrm.backends.hf import HFBackend

    backend = HFBackend("embedded:smollm2-135m")
    with FakeOpenAIServer(backend=backend, model=tokenizer.name_or_path) as srv:
        fn = _load("pkg://genrm.rlhf.verl", "compute_score_async", {
            "judge_template": "recipes/prompts/judge_verdict_only.jinja", "max_new_tokens": 8})
        router = srv.url.removeprefix("http://").removesuffix("/v1")
        [out] = _batch(fn, [_sample("Paris is the capital of France.", "Paris.",
                                    question="What is the capital of France?")], router=router, tokenizer=tokenizer)
    # The untrained judge copies the first verdict line ("A wins") in both orders: 0.5.
    assert out["reward_score"] == 0.5
    assert out["reward_extra_info"]["genrm_invalid_verdicts"] == 0
