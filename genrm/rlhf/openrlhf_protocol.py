"""OpenRLHF's remote reward protocol, shared by `genrm serve`'s `/get_reward`
(genrm.rlhf.server) and the in-process `reward_func` (genrm.rlhf.openrlhf).

A request is `{"query": [...], "prompts": [...], "labels": [...]}` and the answer
`{"rewards", "scores", "extra_logs"}`, one entry per query. `query` is
`decode(prompt_ids + response_ids, skip_special_tokens=False)`: the chat template's special
tokens are in it, and the prompt may have been cut from the left to fit `max_len`.
`recover_response` takes the response back out; `prompt_messages` turns the templated
prompt back into chat messages for the judge; `sample` does both for one query.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from genrm.judge.scalarize import GroupResult

# One end-of-turn / padding marker at the end of a decoded response (at most 44 characters).
_TAIL_TOKEN = re.compile(r"(?:<\|[^<>|]{1,40}\|>|</s>|<eos>|<end_of_turn>|<pad>)\Z")
_TAIL_SPAN = 64  # longer than any marker: where `_TAIL_TOKEN` is looked for
_MIN_OVERLAP = 16  # a cut prompt is recognised by at least this many characters of it
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
    """`text` without trailing end-of-turn/padding tokens and whitespace.

    Linear in the text: one `(\\s|<token>)+\\Z` regex retried the repetition at every start
    position (quadratic: 20k trailing spaces took 10 s), so this walks back from the end."""
    end = len(text)
    while end:
        while end and text[end - 1].isspace():
            end -= 1
        m = _TAIL_TOKEN.search(text, max(0, end - _TAIL_SPAN), end)
        if m is None:
            break
        end = m.start()
    return text[:end]


def _overlap(prompt: str, query: str) -> int:
    """Length of the longest proper suffix of `prompt` that is a prefix of `query`.

    Knuth-Morris-Pratt, linear in both: the prefix function of the query's head, then the
    prompt (minus its first character: proper suffixes only) run through it."""
    pat = query[: len(prompt) - 1]
    if not pat:
        return 0
    fail = [0] * len(pat)
    k = 0
    for i in range(1, len(pat)):
        while k and pat[i] != pat[k]:
            k = fail[k - 1]
        if pat[i] == pat[k]:
            k += 1
        fail[i] = k
    k = 0
    for ch in prompt[1:]:
        if k == len(pat):  # a whole-pattern match before the end is no suffix: keep its border
            k = fail[k - 1]
        while k and ch != pat[k]:
            k = fail[k - 1]
        if ch == pat[k]:
            k += 1
    return k


def recover_response(query: str, prompt: str | None) -> str:
    """The policy's response inside an OpenRLHF `query` (prompt + response, special tokens kept)."""
    if prompt and query.startswith(prompt):
        return strip_tail(query[len(prompt):])
    if prompt:  # the prompt was cut from the left: the query starts with a suffix of it
        cut = _overlap(prompt, query)  # the longest such suffix (shorter ones are weaker evidence)
        if cut >= _MIN_OVERLAP:
            return strip_tail(query[cut:])
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
