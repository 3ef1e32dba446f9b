"""A MetaJudge that dies or serves another model stops training in one line, instead of
a run in which every correct-verdict row's reward is None and every advantage 0.

The MetaJudge is a real OpenAI-compatible HTTP server on 127.0.0.1 (genrm.testing)."""

import asyncio

import pytest
from trl.trainer.utils import start_event_loop_in_daemon

from genrm.config import RecipeError, load_recipe
from genrm.testing import FakeOpenAIServer
from genrm.training import data as tdata
from genrm.training.callbacks import MatcherFailing, MatchFailureStop, match_failure_stop
from genrm.training.plan import preflight, probe_url
from genrm.training.recipe import TrainRecipe
from genrm.training.rewards import training_reward
from tests.training.conftest import tiny_args, tiny_records

NO_KEY_ENV = "GENRM_TEST_OPENAI_KEY_UNSET"


@pytest.fixture(autouse=True)
def _local(monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


class _State:
    global_step = 7


def _log(stop, failures, matched):
    stop.on_log(None, _State(), None, logs={"hybrid/match_failures": failures, "hybrid/matched_rows": matched})


def test_stops_after_the_configured_steps_in_a_row():
    stop = MatchFailureStop("hybrid", max_rate=0.05, steps=3)
    _log(stop, 4, 4)
    _log(stop, 4, 4)
    _log(stop, 0, 4)  # a good step resets the count
    _log(stop, 1, 40)  # 2.5%: below the rate
    _log(stop, 4, 4)
    _log(stop, 0, 0)  # nothing matched (every verdict wrong): no evidence, the count stays
    _log(stop, 3, 4)
    stop.on_log(None, _State(), None, logs={"loss": 0.0})  # a log without the reward's metrics
    with pytest.raises(MatcherFailing, match=r"stopped at step 7: the matcher failed on 100%, 75%, 100% .*"
                                             r"reward\.max_match_failure_rate=0\.05"):
        _log(stop, 4, 4)


def _llm_recipe(tiny_model, tiny_data, tmp_path, srv, model=None, *extra):
    backend = (f"{{kind: openai, base_url: '{srv.url}', model: {model or srv.model}, api_key_env: {NO_KEY_ENV}, "
               "max_retries: 0, backoff: 0, timeout: 5}")
    return load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", "reward.matcher.kind=llm",
                                 f"reward.matcher.backend={backend}", "reward.matcher.options={max_retries: 0}",
                                 *extra), TrainRecipe)


def test_a_dead_metajudge_stops_training_in_one_line(tiny_model, tiny_data, tmp_path):
    """The training reward over a MetaJudge answering HTTP 500, on TRL's daemon event loop,
    logs what the stop reads; three such steps stop the run."""
    with FakeOpenAIServer(model="meta-judge") as srv:
        recipe = _llm_recipe(tiny_model, tiny_data, tmp_path, srv)
        reward = training_reward(recipe, "rationale")
        stop = match_failure_stop(recipe.reward, reward.__name__)
        assert stop is not None and (stop.max_rate, stop.steps) == (0.05, 3)
        rec = tiny_records(1)[0]
        right = f"1. It gives the correct sum 0 for 0 plus 0.\n2. The other answer is off by one.\n\\boxed{{{rec.label}}}"
        thread, loop, ready = start_event_loop_in_daemon()
        ready.wait()
        with pytest.raises(MatcherFailing) as err:
            for _ in range(3):
                srv.fail(*[500] * 8)
                logged = {}
                out = asyncio.run_coroutine_threadsafe(reward(
                    prompts=["p"] * 4, completions=[right] * 4, label=[rec.label] * 4,
                    rationale_units=[rec.rationale_units] * 4, chosen_position=[rec.chosen_position] * 4,
                    record_id=[rec.id] * 4, log_metric=logged.__setitem__), loop).result()
                assert out == [None] * 4  # no reward, never 0
                stop.on_log(None, _State(), None, logs=logged)
        loop.call_soon_threadsafe(loop.stop)
    msg = str(err.value)
    assert "\n" not in msg and isinstance(err.value, RecipeError)  # cli_main prints it as one error: line
    assert "100%, 100%, 100%" in msg and srv.url in msg and "'meta-judge'" in msg
    assert "reward.max_match_failure_rate=0.05" in msg


def test_the_stop_can_be_turned_off(tiny_model, tiny_data, tmp_path):
    recipe = load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", "reward.max_match_failure_rate=null"),
                         TrainRecipe)
    assert match_failure_stop(recipe.reward, "hybrid") is None
    for bad, key in (("reward.max_match_failure_rate=1.5", "reward.max_match_failure_rate"),
                     ("reward.match_failure_steps=0", "reward.match_failure_steps")):
        with pytest.raises(RecipeError, match=key):
            load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", bad), TrainRecipe)


def test_run_grpo_installs_the_stop(tiny_model, tiny_data, tmp_path, monkeypatch):
    import genrm.training.stages as stages

    seen = []

    class Stop(Exception):
        pass

    def fake_trainer(*args, callbacks=(), **kwargs):
        seen.extend(callbacks)
        raise Stop

    monkeypatch.setattr("trl.GRPOTrainer", fake_trainer)
    recipe = load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", "eval_steps=0"), TrainRecipe)
    with pytest.raises(Stop):
        stages.run_grpo(recipe, tiny_records(4), [], str(tiny_model), str(tmp_path / "g"), str(tmp_path / "o"))
    [stop] = [c for c in seen if isinstance(c, MatchFailureStop)]
    assert stop.keys == ("hybrid/match_failures", "hybrid/matched_rows")


def test_probe_checks_the_model_is_served(tiny_model, tiny_data, tmp_path):
    with FakeOpenAIServer(model="meta-judge") as srv:
        probe_url(srv.url, "meta-judge", api_key_env=NO_KEY_ENV)
        with pytest.raises(RecipeError, match=r"reward\.matcher\.backend\.model: 'qwen3-8b' is not served at "
                                              r".*/v1 \(/models lists: meta-judge\)"):
            probe_url(srv.url, "qwen3-8b", api_key_env=NO_KEY_ENV)
        with pytest.raises(RecipeError, match=r"answers HTTP 404 without a model list"):
            probe_url(srv.url[: -len("/v1")], "meta-judge", api_key_env=NO_KEY_ENV)  # the URL lacks /v1
        # preflight, as the trainer runs it before any weights load
        recipe = _llm_recipe(tiny_model, tiny_data, tmp_path, srv, "qwen3-8b")
        data = tdata.load_data(recipe)
        with pytest.raises(RecipeError, match="'qwen3-8b' is not served"):
            preflight(recipe, data)
        assert any("'qwen3-8b' is not served" in w for w in preflight(recipe, data, strict=False))
        preflight(_llm_recipe(tiny_model, tiny_data, tmp_path, srv), data)
