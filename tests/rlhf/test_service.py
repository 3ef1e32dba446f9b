"""Batching and group buffering of the reward service, on the scripted judge."""

import asyncio
import threading

import pytest

from genrm.config import RecipeError, from_dict
from genrm.rlhf.pairwise import Group, PairJudge
from genrm.rlhf.service import RewardService, ServiceConfig, ServiceThread, build_service, load_service_config
from genrm.judge.scalarize import make_strategy
from genrm.testing.scripted_backend import ScriptedBackend


def _service(strategy="reference", latency=0.0, **kw):
    backend = ScriptedBackend(call_latency=latency)
    return RewardService(PairJudge(backend), make_strategy(strategy), **kw), backend


def test_concurrent_requests_share_backend_batches():
    async def main():
        svc, backend = _service(latency=0.05, max_batch=64, max_wait=0.01)
        scores = await asyncio.gather(*(svc.score_one("q", f"score {k % 3}", "score 1") for k in range(30)))
        await svc.aclose()
        return [s for s, _ in scores], backend

    scores, backend = asyncio.run(main())
    assert scores == [0.0, 0.5, 1.0] * 10
    assert backend.calls == 60 and sum(backend.batch_sizes) == 60
    assert backend.batches <= 3  # 30 requests, 60 judge calls, not 30 backend calls


def test_max_batch_caps_a_batch_and_off_means_one_group_per_call():
    async def main(**kw):
        svc, backend = _service(**kw)
        await svc.score_groups([Group("q", ["score 1", "score 2"], "score 0") for _ in range(5)])
        await svc.aclose()
        return backend.batch_sizes

    assert max(asyncio.run(main(max_batch=8, max_wait=0.05))) <= 8
    assert asyncio.run(main(max_batch=1, max_wait=0.0)) == [4] * 5  # one group (4 calls) at a time


def test_group_strategy_buffers_samples_by_prompt():
    async def main():
        svc, backend = _service("round_robin", group_size=3, group_wait=10)
        a = [svc.score_one("p1", f"score {k}") for k in (3, 1, 2)]
        b = [svc.score_one("p2", f"score {k}") for k in (5, 5, 9)]
        out = await asyncio.gather(*a, *b)
        await svc.aclose()
        return [s for s, _ in out], out[0][1], backend

    scores, result, backend = asyncio.run(main())
    assert scores == [1.0, 0.0, 0.5, 0.25, 0.25, 1.0]
    assert result.calls == 6 and backend.calls == 12


def test_partial_group_is_scored_after_group_wait_and_a_lone_sample_is_none():
    async def main():
        svc, _ = _service("round_robin", group_size=4, group_wait=0.2)
        pair = await asyncio.gather(svc.score_one("p", "score 2"), svc.score_one("p", "score 1"))
        lone = await svc.score_one("other", "score 1")
        stats = svc.stats
        await svc.aclose()
        return [s for s, _ in pair], lone[0], stats

    pair, lone, stats = asyncio.run(main())
    assert pair == [1.0, 0.0] and lone is None and stats.partial_groups == 2


def test_one_sample_calls_of_a_group_strategy_need_a_group_size():
    async def main():
        svc, _ = _service("round_robin")
        try:
            await svc.score_one("p", "score 1")
        finally:
            await svc.aclose()

    with pytest.raises(ValueError, match="set batching.group_size"):
        asyncio.run(main())


def test_a_missing_reference_fails_only_its_caller():
    async def main():
        svc, _ = _service()
        ok = asyncio.ensure_future(svc.score_one("q", "score 2", "score 1"))
        with pytest.raises(ValueError, match="needs a reference answer"):
            await svc.score_one("q", "score 2", None)
        s = (await ok)[0]
        await svc.aclose()
        return s

    assert asyncio.run(main()) == 1.0


def test_backend_errors_reach_the_callers_and_the_worker_survives():
    class Broken(ScriptedBackend):
        def generate(self, prompts, sampling=None):
            if self.batches == 0:
                self.batches += 1
                raise TypeError("bug in a backend")
            return super().generate(prompts, sampling)

    async def main():
        svc = RewardService(PairJudge(Broken()), make_strategy("reference"))
        with pytest.raises(TypeError):
            await svc.score_one("q", "score 2", "score 1")
        s = (await svc.score_one("q", "score 2", "score 1"))[0]
        await svc.aclose()
        return s

    assert asyncio.run(main()) == 1.0


def test_service_thread_batches_calls_from_plain_threads():
    backend = ScriptedBackend(call_latency=0.05)
    thread = ServiceThread(lambda: build_service(ServiceConfig(), backend))
    out = [None] * 12

    def call(k):
        out[k] = thread.call(thread.service.score_one("q", f"score {k}", "score 5"))[0]

    workers = [threading.Thread(target=call, args=(k,)) for k in range(12)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    thread.close()
    assert out == [0.0] * 5 + [0.5] + [1.0] * 6
    assert backend.batches < 12


def test_service_config_is_checked_like_a_recipe():
    cfg = from_dict(ServiceConfig, {"strategy": {"name": "bradley_terry"}, "batching": {"group_size": 4}})
    assert cfg.strategy.name == "bradley_terry" and cfg.batching.group_size == 4
    with pytest.raises(RecipeError, match="did you mean 'batching.max_wait_ms'"):
        from_dict(ServiceConfig, {"batching": {"max_wait": 3}})
    with pytest.raises(RecipeError, match="max_batch"):
        from_dict(ServiceConfig, {"batching": {"max_batch": 0}})
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        RewardService(PairJudge(ScriptedBackend()), make_strategy("round_robin"), group_size=1)


def test_load_service_config_from_a_file_a_dict_and_arguments(tmp_path):
    assert load_service_config() == ServiceConfig()  # nothing given: the defaults
    path = tmp_path / "reward.yaml"
    path.write_text("judge:\n  backend: {kind: hf, model: my/genrm, device: cpu}\n  max_new_tokens: 64\n"
                    "strategy: {name: round_robin}\nbatching: {group_size: 4}\n")
    cfg = load_service_config(path)
    assert cfg.judge.backend == {"kind": "hf", "model": "my/genrm", "device": "cpu"} and cfg.judge.max_new_tokens == 64
    assert cfg.strategy.name == "round_robin" and cfg.batching.group_size == 4
    # A dict is laid over the file one section deep: the file's other keys stay, a key given
    # replaces the file's whole value (the hf backend's `device` does not leak into openai).
    over = load_service_config(str(path), {"judge": {"backend": {"kind": "openai", "base_url": "http://h/v1", "model": "g"}},
                                           "strategy": {"name": "reference"}})
    assert over.judge.backend == {"kind": "openai", "base_url": "http://h/v1", "model": "g"}
    assert over.judge.max_new_tokens == 64 and over.strategy.name == "reference" and over.batching.group_size == 4
    assert load_service_config(data={"strategy": {"name": "bradley_terry"}}).strategy.name == "bradley_terry"
    # `genrm serve`'s arguments: recipe=<file> and typed key=value overrides.
    cli = load_service_config(argv=[f"recipe={path}", "batching.max_batch=8", "judge.max_new_tokens=32"])
    assert cli.batching.max_batch == 8 and cli.judge.max_new_tokens == 32 and cli.strategy.name == "round_robin"


def test_load_service_config_is_strict_wherever_the_key_comes_from(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("strategy: {name: round_robin, rounds_: 2}\n")
    with pytest.raises(RecipeError, match="unknown key 'strategy.rounds_' \\(did you mean 'strategy.rounds'\\?\\)"):
        load_service_config(path)
    with pytest.raises(RecipeError, match="unknown key 'judge.max_tokens'"):
        load_service_config(data={"judge": {"max_tokens": 3}})
    with pytest.raises(RecipeError, match="key 'batching.group_size' must be an int"):
        load_service_config(data={"batching": {"group_size": "four"}})
    with pytest.raises(RecipeError, match="recipe not found"):
        load_service_config(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="batching.max_batch and batching.workers must be >= 1"):
        load_service_config(argv=["batching.max_batch=0"])  # validate() runs


def test_one_bad_group_in_a_batch_fails_only_its_caller():
    """A prompt the judge template cannot show (a message without content) used to fail the
    whole backend batch it joined: every caller batched with it got the TypeError."""
    async def main():
        svc, backend = _service(max_batch=64, max_wait=0.05)
        good = [Group("q", ["score 1", "score 3"], "score 2") for _ in range(4)]
        bad = Group([{"role": "user"}], ["score 1"], "score 2")
        out = await asyncio.gather(*(svc.submit(g) for g in [*good[:2], bad, *good[2:]]), return_exceptions=True)
        await svc.aclose()
        return out, backend

    out, backend = asyncio.run(main())
    assert isinstance(out[2], TypeError) and "content" in str(out[2])
    assert [r.scores for k, r in enumerate(out) if k != 2] == [[0.0, 1.0]] * 4
    assert backend.calls == 16  # the good groups were judged once, the bad one never


def test_batches_are_scored_off_the_event_loop_and_async_backends_run_concurrently():
    loop_thread = {}

    class Remote(ScriptedBackend):
        """An async backend (as the OpenAI-compatible one): agenerate awaited on the loop."""

        async def agenerate(self, prompts, sampling=None):
            loop_thread["agenerate"] = threading.current_thread()
            await asyncio.sleep(0.4)
            return ScriptedBackend.generate(self, prompts, sampling)

        def generate(self, prompts, sampling=None):
            raise AssertionError("the service must await agenerate")

    async def main():
        backend = Remote()
        svc = RewardService(PairJudge(backend), make_strategy("reference"), workers=2, max_batch=2, max_wait=0)
        loop_thread["loop"] = threading.current_thread()
        start = asyncio.get_running_loop().time()
        out = await asyncio.gather(svc.score_one("q", "score 2", "score 1"), svc.score_one("q", "score 0", "score 1"))
        took = asyncio.get_running_loop().time() - start
        calls, batches = svc.judge.calls, svc.judge.batches
        await svc.aclose()
        return [s for s, _ in out], took, calls, batches

    scores, took, calls, batches = asyncio.run(main())
    assert scores == [1.0, 0.0] and calls == 4 and batches == 2
    assert loop_thread["agenerate"] is loop_thread["loop"]  # the HTTP client's loop
    assert took < 0.75  # two 0.4 s batches at once: no lock shared between the workers' batches
