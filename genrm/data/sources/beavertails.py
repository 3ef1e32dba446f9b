"""BeaverTails (hub `PKU-Alignment/BeaverTails`): safe vs unsafe answers to one prompt.

Row: `prompt, response, category {14 harm categories: bool}, is_safe`. Rows are
single QA pairs, so pairs are built per prompt: every safe response (chosen)
against every unsafe response (rejected) of the same prompt, at most
`max_pairs_per_prompt` pairs, picked so that they spread over different
responses ((0,0), (0,1), (1,0), (0,2), ...). The same response text labelled
both safe and unsafe is a conflict: it is dropped and counted in `stats`.
`meta.rejected_categories` lists the harm categories marked true for the
unsafe response.
"""

from __future__ import annotations

import logging
from typing import Iterator

from genrm.data.rows import DataError, load_rows, require, require_text
from genrm.data.record import PreferenceRecord, user_prompt

SOURCE = "beavertails"
HUB_ID = "PKU-Alignment/BeaverTails"
log = logging.getLogger(__name__)


def _is_safe(row: dict, where: str) -> bool:
    v = require(row, "is_safe", where)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if not isinstance(v, bool):
        raise DataError(f"should be a boolean, got {v!r}", field="is_safe", where=where)
    return v


def _categories(row: dict, where: str) -> list[str]:
    cats = require(row, "category", where)
    if not isinstance(cats, dict):
        raise DataError("should be an object {category: bool}", field="category", where=where)
    return sorted(k for k, v in cats.items() if v)


def load(
    path: str = HUB_ID,
    *,
    split: str = "30k_train",
    config: str | None = None,
    max_pairs_per_prompt: int | None = 4,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield safe-vs-unsafe pairs grouped by prompt (`max_pairs_per_prompt=None`: all)."""
    if max_pairs_per_prompt is not None and (not isinstance(max_pairs_per_prompt, int) or max_pairs_per_prompt < 1):
        raise DataError(f"should be a positive integer or None, got {max_pairs_per_prompt!r}",
                        field="max_pairs_per_prompt")
    counts = stats if stats is not None else {}
    for key in ("rows", "prompts", "pairs", "skipped_duplicate_response", "skipped_conflicting_label",
                "prompts_without_pair"):
        counts.setdefault(key, 0)
    # prompt -> response text -> (is_safe, categories); insertion order keeps the file order.
    groups: dict[str, dict[str, tuple[bool, list[str]]]] = {}
    conflicts: dict[str, set[str]] = {}
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        prompt = require_text(row, "prompt", where)
        response = require_text(row, "response", where)
        safe = _is_safe(row, where)
        cats = _categories(row, where)
        group = groups.setdefault(prompt, {})
        key = response.strip()
        if key in group:
            if group[key][0] != safe:
                conflicts.setdefault(prompt, set()).add(key)
            counts["skipped_duplicate_response"] += 1
            continue
        group[key] = (safe, cats)

    for prompt, group in groups.items():
        counts["prompts"] += 1
        bad = conflicts.get(prompt, set())
        counts["skipped_conflicting_label"] += len(bad)
        safe = [r for r, (s, _) in group.items() if s and r not in bad]
        unsafe = [(r, c) for r, (s, c) in group.items() if not s and r not in bad]
        if not safe or not unsafe:
            counts["prompts_without_pair"] += 1
            continue
        combos = [(i, j) for i in range(len(safe)) for j in range(len(unsafe))]
        combos.sort(key=lambda p: (p[0] + p[1], p[0]))
        if max_pairs_per_prompt is not None:
            combos = combos[:max_pairs_per_prompt]
        for i, j in combos:
            counts["pairs"] += 1
            yield PreferenceRecord(
                source=SOURCE, domain="safety", prompt=user_prompt(prompt),
                chosen=safe[i], rejected=unsafe[j][0], label_kind="gold",
                meta={"rejected_categories": unsafe[j][1], "n_safe": len(safe), "n_unsafe": len(unsafe)},
            )
    log.info("%s %s: %s", SOURCE, path, counts)
