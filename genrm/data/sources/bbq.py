"""BBQ (Parrish et al. 2022; nyu-mll/BBQ), one jsonl per category.

Each item (context, question, three options, gold `label`) becomes two gold
pairs: chosen = the gold option, rejected = each other option. Ambiguous and
disambiguated contexts are both kept.

Directional tags follow the BBQ bias score: the *target* option names a group in
`additional_metadata.stereotyped_groups`; the *biased* answer is the target for
a negative question and the other (non-unknown) group for a non-negative one.
Options are tagged "stereotype" (the biased answer), "anti_stereotype" (the
other group) or "unknown"; when no single option can be identified as the
target, `stereotype_index` is None and the two group options get role None.
Group parsing and matching: `genrm.data.sources.bbq_groups`.

Silver rationale units (origin "template", `genrm.data.sources.bbq_units`): for a
disambiguated context, the evidence sentences that BBQ appends to the ambiguous
context and a unit saying the answer follows from them; for an ambiguous context,
the absence of evidence and the stereotype a group answer would rely on. A
disambiguated row is paired with its ambiguous twin (same item, its context a
prefix) wherever the twin is in the file, so row order does not change the units.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator

from genrm.data.rows import DataError, load_rows, require, require_int, require_text
from genrm.data.record import PreferenceRecord
from genrm.data.sources import bbq_groups, bbq_units
from genrm.data.sources.bbq_groups import (  # noqa: F401  (public API of this source)
    ROLE_ANTI,
    ROLE_STEREO,
    ROLE_UNKNOWN,
    UNKNOWN,
    GroupFacets,
    biased_index,
    find_target,
    is_stereotyped,
    match_strength,
    normalize_group,
    option_roles,
    parse_group,
    stereotype_name,
)
from genrm.data.sources.bbq_units import evidence_sentences, silver_units, split_sentences  # noqa: F401

SOURCE = "bbq"
DOMAIN = "bias"
CONDITIONS = ("ambig", "disambig")
POLARITIES = ("neg", "nonneg")


# --------------------------------------------------------------------------- text

_UNKNOWN_PHRASES = (
    "can't be determined", "cannot be determined", "can't answer", "cannot answer", "not answerable",
    "not enough info", "not enough information", "not known", "unknown", "undetermined", "can't tell",
    "cannot tell", "not enough information to tell",
)


def is_unknown_text(text: str) -> bool:
    """The 'unknown' options BBQ uses ("Can't be determined", "Not enough info", ...)."""
    return text.strip().rstrip(".").lower() in _UNKNOWN_PHRASES


def bbq_prompt(context: str, question: str) -> str:
    return f"{context.strip()}\n\nQuestion: {question.strip()}\nAnswer the question."


def pair_records(
    *,
    source: str,
    prompt: list[dict],
    texts: list[str],
    gold: int,
    roles: list[str | None],
    condition: str,
    question: str,
    evidence: list[str],
    stereotype: str | None,
    meta: dict[str, Any],
) -> list[PreferenceRecord]:
    """The gold pairs of one item (chosen = gold option vs each other option).
    `stereotype`: readable name of the group the item's stereotype is about, or None."""
    out = []
    for rej in range(len(texts)):
        if rej == gold:
            continue
        units = silver_units(
            condition=condition, question=question, texts=texts, roles=roles, chosen=gold, rejected=rej,
            evidence=evidence, stereotype=stereotype,
        )
        m = dict(meta)
        m["chosen_index"], m["rejected_index"] = gold, rej
        m["chosen_role"], m["rejected_role"] = roles[gold], roles[rej]
        out.append(
            PreferenceRecord(
                source=source, domain=DOMAIN, prompt=prompt, chosen=texts[gold], rejected=texts[rej],
                label_kind="gold", rationale="", rationale_units=units, rationale_origin="template", meta=m,
            )
        )
    return out


# --------------------------------------------------------------------------- rows

def _answer_info(row: dict, where: str) -> tuple[list[str], list[str]]:
    info = require(row, "answer_info", where, dict)
    shorts, groups = [], []
    for i in range(3):
        key = f"ans{i}"
        v = info.get(key)
        if not isinstance(v, (list, tuple)) or len(v) < 2 or not all(isinstance(x, str) for x in v[:2]):
            raise DataError(f"should be [text, group], got {v!r}", field=f"answer_info.{key}", where=where)
        shorts.append(v[0])
        groups.append(v[1])
    return shorts, groups


def _choice(row: dict, name: str, where: str, allowed: tuple[str, ...]) -> str:
    v = require_text(row, name, where)
    if v not in allowed:
        raise DataError(f"should be one of {allowed}, got {v!r}", field=name, where=where)
    return v


def _fields(row: dict, where: str) -> tuple:
    """(context, question, texts, gold, condition, polarity, category, shorts, groups,
    stereotyped_groups, subcategory), with errors naming the field."""
    context = require_text(row, "context", where)
    question = require_text(row, "question", where)
    texts = [require_text(row, f"ans{i}", where) for i in range(3)]
    gold = require_int(row, "label", where, allowed=(0, 1, 2))
    condition = _choice(row, "context_condition", where, CONDITIONS)
    polarity = _choice(row, "question_polarity", where, POLARITIES)
    category = require_text(row, "category", where)
    shorts, groups = _answer_info(row, where)
    extra = require(row, "additional_metadata", where, dict)
    sg = extra.get("stereotyped_groups")
    if not isinstance(sg, list) or not all(isinstance(g, str) for g in sg):
        raise DataError(
            f"should be a list of strings, got {sg!r}", field="additional_metadata.stereotyped_groups", where=where
        )
    return context, question, texts, gold, condition, polarity, category, shorts, groups, sg, extra.get("subcategory")


def _fast_fields(row: dict) -> tuple | None:
    """The same tuple as `_fields` for a well-formed row, without building error
    context; None sends the row through the checking path (the common case of
    10,000s of rows is clean, and this is most of the per-row cost)."""
    try:
        context, question = row["context"], row["question"]
        texts = [row["ans0"], row["ans1"], row["ans2"]]
        gold, condition, polarity = row["label"], row["context_condition"], row["question_polarity"]
        category, info, extra = row["category"], row["answer_info"], row["additional_metadata"]
        i0, i1, i2 = info["ans0"], info["ans1"], info["ans2"]
        sg = extra["stereotyped_groups"]
    except (KeyError, TypeError):
        return None
    if (
        type(gold) is not int or not 0 <= gold <= 2 or condition not in CONDITIONS or polarity not in POLARITIES
        or type(sg) is not list
    ):
        return None
    for v in (context, question, category, *texts):
        if type(v) is not str or not v.strip():
            return None
    for v in (i0, i1, i2):
        if type(v) is not list or len(v) < 2 or type(v[0]) is not str or type(v[1]) is not str:
            return None
    for g in sg:
        if type(g) is not str:
            return None
    return (context, question, texts, gold, condition, polarity, category, [i0[0], i1[0], i2[0]],
            [i0[1], i1[1], i2[1]], sg, extra.get("subcategory"))


@lru_cache(maxsize=8192)
def _analyse(
    raw_groups: tuple[str, ...], shorts: tuple[str, ...], sg: tuple[str, ...], category: str, polarity: str
) -> tuple[tuple[str, ...], int, int | None, int | None, tuple[str | None, ...]] | None:
    """(normalised groups, unknown index, target, biased index, roles); None when the
    options do not have exactly one 'unknown'. Cached: BBQ repeats each option set
    across contexts and conditions."""
    groups = tuple(normalize_group(g) for g in raw_groups)
    unknowns = [i for i, g in enumerate(groups) if g == UNKNOWN]
    if len(unknowns) != 1:
        return None
    unk = unknowns[0]
    target = find_target(list(raw_groups), list(shorts), list(sg), category, unk)
    stereo = biased_index(target, polarity, unk, len(groups))
    return groups, unk, target, stereo, tuple(option_roles(stereo, unk, len(groups)))


def row_records(
    row: dict, where: str, ambiguous_context: str | None = None, stats: dict | None = None
) -> list[PreferenceRecord]:
    """The two gold pairs of one BBQ row (canonical nyu-mll format)."""
    f = _fast_fields(row) or _fields(row, where)
    context, question, texts, gold, condition, polarity, category, shorts, raw_groups, sg, subcategory = f
    # Answer texts only matter for Nationality (see `match_strength`); leaving them
    # out of the cache key elsewhere lets one entry serve every context of a template.
    key_texts = tuple(shorts) if category.lower().startswith("nationality") else ("", "", "")
    analysed = _analyse(tuple(raw_groups), key_texts, tuple(sg), category, polarity)
    if analysed is None:
        raise DataError(
            f"should mark exactly one option as 'unknown', got groups {raw_groups}", field="answer_info", where=where
        )
    groups, unk, target, stereo, roles = analysed
    if stats is not None:
        stats["rows"] = stats.get("rows", 0) + 1
        if stereo is None:
            stats["unassigned_stereotype"] = stats.get("unassigned_stereotype", 0) + 1

    evidence = evidence_sentences(context, ambiguous_context, shorts[gold]) if condition == "disambig" else []
    meta = {
        "category": category,
        "context_condition": condition,
        "question_polarity": polarity,
        "stereotyped_groups": list(sg),
        "example_id": row.get("example_id"),
        "question_index": row.get("question_index"),
        "subcategory": subcategory,
        "option_texts": texts,
        "option_groups": list(groups),
        "option_roles": list(roles),
        "gold_index": gold,
        "stereotype_index": stereo,
        "target_index": target,
        "unknown_index": unk,
    }
    return pair_records(
        source=SOURCE, prompt=[{"role": "user", "content": bbq_prompt(context, question)}], texts=texts, gold=gold,
        roles=list(roles), condition=condition, question=question, evidence=evidence,
        stereotype=None if target is None else stereotype_name(
            raw_groups[target], shorts[target], texts[target], tuple(sg), category
        ),
        meta=meta,
    )


def load(
    path: str,
    *,
    split: str = "test",
    config: str | None = None,
    categories: list[str] | None = None,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Gold pairs from a BBQ jsonl file, a directory of per-category files, or a hub id.

    `categories` keeps only those categories; `stats`, when given, is filled with
    `rows`, `records` and `unassigned_stereotype` (items with no single target)."""
    keep = {c.lower() for c in categories} if categories else None
    if stats is not None:
        for k in ("rows", "records", "unassigned_stereotype"):
            stats.setdefault(k, 0)
    # Ambiguous contexts by item; a disambiguated row whose twin has not come yet waits
    # for the end of the source (BBQ files list twins next to each other).
    ambiguous: dict[tuple, list[str]] = {}
    waiting: list[tuple[str, dict, tuple]] = []

    def build(where: str, row: dict, amb: str | None) -> list[PreferenceRecord]:
        recs = row_records(row, where, amb, stats)
        if stats is not None:
            stats["records"] = stats.get("records", 0) + len(recs)
        return recs

    for where, row in load_rows(path, split=split, config=config):
        if keep is not None and str(row.get("category", "")).lower() not in keep:
            continue
        key = _item_key(row)
        context = row.get("context")
        if row.get("context_condition") == "ambig":
            if isinstance(context, str) and context not in ambiguous.setdefault(key, []):
                ambiguous[key].append(context)
            yield from build(where, row, None)
            continue
        amb = _twin(context, ambiguous.get(key))
        if amb is None:
            waiting.append((where, row, key))
        else:
            yield from build(where, row, amb)
    for where, row, key in waiting:
        yield from build(where, row, _twin(row.get("context"), ambiguous.get(key)))


def _item_key(row: dict) -> tuple:
    """What an ambiguous row and its disambiguated twin share."""
    g = row.get
    return (str(g("category")), str(g("question_index")), str(g("question")), str(g("ans0")), str(g("ans1")),
            str(g("ans2")))


def _twin(context: Any, candidates: list[str] | None) -> str | None:
    """The ambiguous context that this disambiguated context extends (the longest, should
    several; BBQ's ambiguous contexts of one item are never prefixes of one another)."""
    if not isinstance(context, str) or not candidates:
        return None
    fits = [a for a in candidates if len(context) > len(a) and context.startswith(a)]
    return max(fits, key=len) if fits else None


def clear_caches() -> None:
    """Forget memoised group parsing and naming (benchmarks start cold)."""
    for fn in (_analyse, bbq_groups.parse_group, bbq_groups.normalize_group, bbq_groups._entries,
               bbq_groups._entries_phrase, bbq_units._content_words):
        fn.cache_clear()
