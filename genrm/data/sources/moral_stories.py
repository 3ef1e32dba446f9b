"""Moral Stories (hub `demelin/moral_stories`, config "full"): moral vs immoral action.

Row: `ID, norm, situation, intention, moral_action, moral_consequence,
immoral_action, immoral_consequence`.

The prompt is the situation and the actor's intention, asking what to do; the
chosen response is `moral_action`, the rejected one `immoral_action` (with
their consequences appended when `with_consequences=True`). The norm is not
shown in the prompt: it is the human-written reason why the moral action is
better, so it becomes the rationale and the single rationale unit, with
origin "human".
"""

from __future__ import annotations

import logging
from typing import Iterator

from genrm.data.rows import load_rows, require_text
from genrm.data.record import PreferenceRecord, user_prompt

SOURCE = "moral_stories"
HUB_ID = "demelin/moral_stories"
log = logging.getLogger(__name__)


def make_prompt(situation: str, intention: str) -> str:
    return f"{situation.strip()}\n{intention.strip()}\n\nWhat should they do? Describe the action they take."


def load(
    path: str = HUB_ID,
    *,
    split: str = "train",
    config: str | None = "full",
    with_consequences: bool = False,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield one moral-vs-immoral pair per story, the norm as its human rationale."""
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_identical"):
        counts.setdefault(key, 0)
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        norm = require_text(row, "norm", where).strip()
        prompt = make_prompt(require_text(row, "situation", where), require_text(row, "intention", where))
        chosen = require_text(row, "moral_action", where).strip()
        rejected = require_text(row, "immoral_action", where).strip()
        if with_consequences:
            chosen = f"{chosen} {require_text(row, 'moral_consequence', where).strip()}"
            rejected = f"{rejected} {require_text(row, 'immoral_consequence', where).strip()}"
        if chosen == rejected:
            counts["skipped_identical"] += 1
            continue
        meta = {"story_id": row.get("ID"), "norm": norm, "with_consequences": with_consequences}
        counts["pairs"] += 1
        yield PreferenceRecord(
            source=SOURCE, domain="morality", prompt=user_prompt(prompt), chosen=chosen, rejected=rejected,
            label_kind="gold", rationale=norm, rationale_units=[norm], rationale_origin="human", meta=meta,
        )
    log.info("%s %s: %s", SOURCE, path, counts)
