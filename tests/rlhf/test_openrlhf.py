"""The OpenRLHF adapter: the response recovered from `query` (special tokens, cut
prompts), and both reward paths driven by OpenRLHF 0.11's own SingleTurnAgentExecutor:
it tokenizes the prompt, appends the policy's tokens, decodes the query with special
tokens and asks our `reward_func` (.py) or `genrm serve` (HTTP) for the reward."""

import asyncio
import random
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import genrm.rlhf.openrlhf as adapter
from genrm.rlhf.openrlhf_protocol import ProtocolError, parse_request, prompt_messages, recover_response
from genrm.testing import FakeOpenAIServer
from genrm.testing.scripted_backend import ScriptedBackend
from genrm.testing.serve_process import ServerProcess

QUESTION = "I have 100 apples. How would you rate that?"


def _chat(tokenizer, question=QUESTION):
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


class _Engine:
    """Stands in for the policy's vLLM engine: answers every prompt with fixed token ids."""

    def __init__(self, response_ids):
        self.response_ids, self.prompts = list(response_ids), []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        self.prompts.append(list(prompt_token_ids))
        out = SimpleNamespace(token_ids=self.response_ids, text="", logprobs=None, finish_reason="stop")
        return SimpleNamespace(outputs=[out])


def _execute(executor, tokenizer, prompt, label, response, max_length=1024):
    from openrlhf.utils.agent import SingleTurnAgentExecutor  # noqa: F401 - the class under use

    ids = tokenizer(response + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    params = SimpleNamespace(max_tokens=len(ids), logprobs=None)
    return asyncio.run(executor.execute(prompt, label, params, max_length, tokenizer, _Engine(ids)))


def test_recover_response_from_decoded_chatml(tokenizer):
    prompt = _chat(tokenizer)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids += tokenizer("score 7<|im_end|>", add_special_tokens=False)["input_ids"]
    query = tokenizer.decode(ids, skip_special_tokens=False)
    assert "<|im_start|>" in query and query.endswith("<|im_end|>")
    assert recover_response(query, prompt) == "score 7"
    cut = query[40:]  # the prompt lost its start to max_len: the query begins inside it
    assert recover_response(cut, prompt) == "score 7"
    assert recover_response(query, None) == "score 7"  # no prompt: after the last assistant opener


def test_recover_response_other_templates():
    llama = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert recover_response(llama + "Hello there.<|eot_id|>", llama) == "Hello there."
    assert prompt_messages(llama) == [{"role": "user", "content": "Hi"}]
    gemma = "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert recover_response(gemma + "Yo<end_of_turn><eos>", gemma) == "Yo"
    assert prompt_messages(gemma) == [{"role": "user", "content": "Hi"}]
    assert prompt_messages("[INST] plain [/INST]") == "plain"


def test_prompt_messages_keeps_the_conversation(tokenizer):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert prompt_messages(prompt) == msgs


def test_parse_request_names_the_field():
    assert parse_request({"query": "q"}) == (["q"], [None], [None])
    for body, field in [([], "JSON object"), ({"query": []}, "'query'"), ({"query": [1]}, "'query'"),
                        ({"query": ["a"], "labels": ["x", "y"]}, "'labels'"), ({"query": ["a"], "prompts": [3]}, "'prompts'")]:
        with pytest.raises(ProtocolError, match=field):
            parse_request(body)


def _old_recover_response(query, prompt):
    """The quadratic original (every suffix of the prompt tried, one regex over the tail), kept as the oracle."""
    tail = re.compile(r"(?:\s|<\|[^<>|]{1,40}\|>|</s>|<eos>|<end_of_turn>|<pad>)+\Z")
    if prompt and query.startswith(prompt):
        return tail.sub("", query[len(prompt):])
    if prompt:
        for p in range(1, len(prompt)):
            if query.startswith(prompt[p:]) and len(prompt) - p >= 16:
                return tail.sub("", query[len(prompt) - p:])
    cuts = [query.rfind(o) + len(o) for o in ("<|im_start|>assistant\n", "<start_of_turn>model\n", "[/INST]") if o in query]
    return tail.sub("", query[max(cuts):] if cuts else query)


def test_recover_response_matches_the_original_on_small_cases():
    rng = random.Random(0)
    pieces = ["a", "b", "ab", " ", "\n", "<|im_end|>", "<pad>", "</s>", "<eos>", "<|im_start|>assistant\n", "<", "|>"]
    for _ in range(3000):
        prompt = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        query = prompt[rng.randint(0, len(prompt)):] + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        for p in (prompt, None, prompt[::-1]):
            assert recover_response(query, p) == _old_recover_response(query, p), (query, p)


def test_recover_response_is_linear_in_the_query():
    """200k-character queries took seconds (suffix loop) or minutes (20k trailing spaces: 10 s)."""
    prompt = "x" * 200_000 + "Q"  # no suffix of it starts the query: every one was tried
    cut = "y" * 100 + "z" * 199_900  # a prompt the query starts 100 characters into
    cases = [("y" * 200_000, prompt, "y" * 200_000),
             (cut[100:] + "answer" + " " * 100_000 + "<|im_end|>" * 1000, cut, "answer"),
             ("a" * 200_000, "a" * 100_000 + "b", "a" * 200_000)]  # every character a partial match
    for query, p, want in cases:
        start = time.perf_counter()
        assert recover_response(query, p) == want
        assert time.perf_counter() - start < 0.5


@pytest.fixture()
def recipe(tmp_path, monkeypatch):
    def reply(body):
        return ScriptedBackend().generate([body["messages"]])[0]

    with FakeOpenAIServer(default=reply) as srv:
        path = tmp_path / "reward.yaml"
        path.write_text(yaml.safe_dump({"judge": {"backend": {"kind": "openai", "base_url": srv.url, "model": srv.model}},
                                        "strategy": {"name": "reference"}}))
        monkeypatch.setenv("GENRM_REWARD_RECIPE", str(path))
        yield srv


def test_reward_func_file_as_openrlhf_loads_and_calls_it(recipe, tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=adapter.__file__)  # loaded by path, as "reward_func"
    assert executor.reward_func.__module__ == "reward_func"
    prompt = _chat(tokenizer)
    out = _execute(executor, tokenizer, prompt, "score 50", "score 70")
    assert float(out["reward"][0]) == 1.0 and float(out["scores"][0]) == 1.0
    assert float(out["extra_logs"]["genrm/judge_calls"]) == 2.0
    # The judge saw the response alone, not the prompt's "100" (that would beat 50 too).
    out = _execute(executor, tokenizer, prompt, "score 50", "score 7")
    assert float(out["reward"][0]) == 0.0
    # A prompt cut from the left to fit max_len still yields the response.
    out = _execute(executor, tokenizer, prompt, "score 50", "score 7", max_length=20)
    assert float(out["reward"][0]) == 0.0


def test_reward_func_is_called_from_threads_concurrently(recipe, tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=adapter.__file__)
    prompt = _chat(tokenizer)
    queries = [prompt + f"score {k}<|im_end|>" for k in (10, 60, 50, 90)]

    async def main():  # one _fetch_rewards_via_func per sample, all at once, as rollouts do
        return await asyncio.gather(*(executor._fetch_rewards_via_func([q], [prompt], ["score 50"]) for q in queries))

    results = asyncio.run(main())
    assert [float(r[0]["rewards"][0]) for r in results] == [0.0, 1.0, 0.5, 1.0]


def test_reward_func_raises_on_unscored(recipe, tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    recipe.default = lambda body: "no verdict here"
    executor = SingleTurnAgentExecutor(remote_rm_url=adapter.__file__)
    with pytest.raises(Exception, match="got no verdict"):
        asyncio.run(executor._fetch_rewards_via_func([_chat(tokenizer) + "x"], [_chat(tokenizer)], ["y"]))
    # execute() catches it, logs it and keeps no reward: the sample is not scored 0.
    out = _execute(executor, tokenizer, _chat(tokenizer), "y", "x")
    assert out["reward"] is None


def test_http_server_through_openrlhf_execute(tokenizer):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    with ServerProcess(["log_level=warning"], scripted_latency=0.0) as srv:
        executor = SingleTurnAgentExecutor(remote_rm_url=srv.url + "/get_reward")
        out = _execute(executor, tokenizer, _chat(tokenizer), "score 50", "score 7")
        assert out["reward"] == [0.0] and out["scores"] == [0.0]
        assert out["extra_logs"]["genrm/judge_calls"] == 2.0


def test_adapter_file_is_loadable_alone():
    assert Path(adapter.__file__).name == "openrlhf.py" and callable(adapter.reward_func)
