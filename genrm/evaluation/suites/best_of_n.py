"""Generic best-of-N: rows `{prompt, chosen: [...], rejected: [...]}`, accuracy per category.

A prompt is won when every chosen completion outscores every rejected one (a scalar RM or
LLM proxy: each completion is scored once, ties lose) or wins every comparison against every
rejected one, each in the judge's orders (a GenRM: both by default; a comparison is won when
its votes sum above 0). Accuracy is the % of prompts won, overall and per category where the
rows carry one. A GenRM costs |chosen| x |rejected| x 2 judge calls per prompt.

Adapters (`format=`) map published layouts onto the rows:
- `generic`: `prompt` (a string or a list of chat messages), `chosen`, `rejected` (lists of
  strings), optional `id` and `category`.
- `rmb`: RMB's best-of-N track (`RMB_dataset/BoN_set/**.json`): `conversation_input` (chat
  messages), `bon_best.answer` (chosen), `loser_list[].answer` (rejected), `bon_uid`,
  `category_path`.
- `ppe`: PPE's best-of-K files (`lmarena-ai/PPE-*-Best-of-K`): `prompt`, `response_1..K`,
  `scores` (correctness per response: truthy = chosen), `question_id` (and `model_name` when
  present). Rows whose responses are all correct or all incorrect ask no best-of-N question:
  they are left out and counted in the log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from genrm.config import RecipeError
from genrm.data.record import user_prompt
from genrm.data.rows import DataError, load_rows, require, require_text
from genrm.evaluation import bon_arith
from genrm.evaluation.intervals import Bootstrap
from genrm.evaluation.models import Comparison
from genrm.evaluation.suites.common import is_won, placement

log = logging.getLogger(__name__)
NAME = "best_of_n"
FORMATS = ("generic", "rmb", "ppe")
_RESPONSE = re.compile(r"response_(\d+)$")


@dataclass
class Prompt:
    id: str
    prompt: list[dict]
    chosen: list[str]
    rejected: list[str]
    category: Optional[str] = None


def _texts(v: Any, name: str, where: str) -> list[str]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise DataError(f"should be a non-empty list of completion strings, got {v!r:.80}", field=name, where=where)
    return v


def _messages(v: Any, name: str, where: str) -> list[dict]:
    """A prompt as chat messages: a string is one user turn; a list must hold {role, content}."""
    if isinstance(v, str) and v.strip():
        return user_prompt(v)
    if isinstance(v, list) and v and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                         and m.get("role") in ("system", "user", "assistant") for m in v):
        return [{"role": m["role"], "content": m["content"]} for m in v]
    raise DataError("should be a non-empty string or a list of {role, content} chat messages", field=name,
                    where=where)


def _category(v: Any, name: str, where: str) -> Optional[str]:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise DataError(f"should be a category name or absent, got {v!r:.60}", field=name, where=where)
    return v


def _generic(row: dict, where: str, k: int) -> Prompt:
    rid = row.get("id", k)
    if not isinstance(rid, (int, str)) or isinstance(rid, bool):
        raise DataError(f"should be a string or an integer, got {rid!r:.60}", field="id", where=where)
    return Prompt(str(rid), _messages(require(row, "prompt", where), "prompt", where),
                  _texts(require(row, "chosen", where), "chosen", where),
                  _texts(require(row, "rejected", where), "rejected", where),
                  _category(row.get("category"), "category", where))


def _answer(v: Any, name: str, where: str) -> str:
    if not isinstance(v, dict) or not isinstance(v.get("answer"), str):
        raise DataError("should be an object with an 'answer' string", field=name, where=where)
    return v["answer"]


def _rmb(row: dict, where: str, k: int) -> Prompt:
    losers = require(row, "loser_list", where, list)
    if not losers:
        raise DataError("is empty (a best-of-N prompt needs rejected answers)", field="loser_list", where=where)
    return Prompt(str(require(row, "bon_uid", where, (int, str))),
                  _messages(require(row, "conversation_input", where), "conversation_input", where),
                  [_answer(require(row, "bon_best", where), "bon_best", where)],
                  [_answer(x, f"loser_list.{i}", where) for i, x in enumerate(losers)],
                  _category(row.get("category_path"), "category_path", where))


def _ppe(row: dict, where: str, k: int) -> Optional[Prompt]:
    cols = sorted((int(m.group(1)), c) for c in row if (m := _RESPONSE.match(c)))
    scores = require(row, "scores", where, list)
    if not cols or len(scores) != len(cols):
        raise DataError(f"should hold one correctness value per response_<k> column ({len(cols)}), got "
                        f"{len(scores)}", field="scores", where=where)
    responses = [row[c] for _, c in cols]
    if not all(isinstance(x, str) for x in responses):
        raise DataError("should all be strings", field="response_<k>", where=where)
    chosen = [r for r, s in zip(responses, scores) if s]
    rejected = [r for r, s in zip(responses, scores) if not s]
    if not chosen or not rejected:
        return None
    qid = str(require(row, "question_id", where, (int, str)))
    rid = f"{qid}:{row['model_name']}" if row.get("model_name") else qid
    return Prompt(rid, _messages(require(row, "prompt", where), "prompt", where), chosen, rejected,
                  _category(row.get("category"), "category", where))


ADAPTERS = {"generic": _generic, "rmb": _rmb, "ppe": _ppe}


def load(path: str, *, split: str = "train", format: str = "generic", limit: Optional[int] = None) -> list[Prompt]:
    """Best-of-N prompts of a file, directory or hub split in one of FORMATS; `limit`: the first N."""
    if format not in ADAPTERS:
        raise DataError(f"unknown best-of-N format {format!r}; known: {', '.join(FORMATS)}")
    out: list[Prompt] = []
    ids: set[str] = set()
    skipped = 0
    for k, (where, row) in enumerate(load_rows(path, split=split)):
        if limit is not None and len(out) >= limit:
            break
        p = ADAPTERS[format](row, where, k)
        if p is None:
            skipped += 1
            continue
        if p.id in ids:
            raise DataError(f"duplicate best-of-N id {p.id!r}", where=where)
        ids.add(p.id)
        out.append(p)
    if skipped:
        log.info("%s: %d rows left out (all responses correct or all incorrect)", path, skipped)
    if not out:
        raise DataError(f"no best-of-N prompts read from {path}")
    return out


# ----------------------------------------------------------------------------- running


def load_items(data: Any, limit: Optional[int]) -> list[Prompt]:
    if not data.path:
        raise RecipeError("suite best_of_n needs data.best_of_n.path=<file, directory or hub id>")
    return load(data.path, split=data.split, format=data.format, limit=limit)


def comparisons(p: Prompt, seed: int) -> list:
    """Every chosen completion against every rejected one (a scoring model scores each once)."""
    out = []
    for i, c in enumerate(p.chosen):
        for j, r in enumerate(p.rejected):
            cid = f"{p.id}:{i}v{j}"
            out.append(Comparison(id=cid, prompt=p.prompt, chosen=c, rejected=r, chosen_position=placement(seed, cid),
                                  source=NAME, domain=p.category or "general"))
    return out


def item_row(p: Prompt, results: Sequence[dict]) -> dict[str, Any]:
    """Whether the prompt was won; a scoring model's rows also carry the scores (rescore input)."""
    row: dict[str, Any] = {"category": p.category, "won": all(is_won(r) for r in results)}
    if all("scores" in r for r in results):
        nr = len(p.rejected)
        row["scores_chosen"] = [results[i * nr]["scores"][0] for i in range(len(p.chosen))]
        row["scores_rejected"] = [results[j]["scores"][1] for j in range(nr)]
        if row["won"] != bon_arith.won_by_scores(row["scores_chosen"], row["scores_rejected"]):
            raise AssertionError(f"best-of-N prompt {p.id}: votes and scores disagree")  # one rule, two ways
    return row


def summarize(rows: Sequence[dict], boot: Optional[Bootstrap] = None) -> dict[str, Any]:
    """`bon_arith.accuracy`, plus the bootstrap interval of the overall accuracy over prompts."""
    out = bon_arith.accuracy((r["category"], r["won"]) for r in rows)
    out["accuracy_ci"] = (boot or Bootstrap()).rate([[r["won"]] for r in rows])
    return out
