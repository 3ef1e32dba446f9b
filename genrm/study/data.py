"""The study's data: one build of the mixture, and the held-out comparisons every arm is measured on.

    <out>/data/      the build (`genrm.data.build`): train.jsonl, eval.jsonl, stats card
    <out>/splits/    what the runs read: train.jsonl (the build's train split),
                     heldout.jsonl (the held-out records judged for the main measures;
                     the trainer's eval steps judge its first `eval.max_records`),
                     bbq.jsonl (the records of the held-out BBQ questions), info.json

No arm trains on the build's eval split: the held-out records and BBQ questions are drawn
from it alone, and the build keeps every prompt inside one split. Both directories are
written whole and swapped in (`genrm.staging.stage_output`), so a kill leaves them
complete or absent, and a resumed study reads them back unchanged.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from genrm.assets import resolve_model
from genrm.data.build import build
from genrm.data.record import PreferenceRecord, prompt_key, read_jsonl, write_jsonl
from genrm.evaluation.judging import judge_messages
from genrm.evaluation.suites import social
from genrm.staging import stage_output
from genrm.study.recipe import StudyRecipe
from genrm.training import data as tdata

SPLITS_KIND = "study-splits"


@dataclass
class Splits:
    dir: str
    heldout: list[PreferenceRecord]
    bbq_records: list[PreferenceRecord]
    info: dict[str, Any] = field(default_factory=dict)

    def bbq_items(self) -> list:
        """The held-out BBQ questions as social-suite items (three option pairs each)."""
        return [it for it in social.group(self.bbq_records) if it.part == "bbq"]


def present_sources(recipe: StudyRecipe) -> tuple[list, list[str]]:
    """The sources to build from: `data.sources`, plus each optional source whose local path exists."""
    used = list(recipe.data.sources)
    missing = []
    for s in recipe.data.optional_sources:
        if s.path is not None and os.path.exists(s.path):
            used.append(s)
        else:
            missing.append(f"{s.name} ({s.path})")
    return used, missing


def build_data(recipe: StudyRecipe, out: str) -> tuple[str, list[str]]:
    """Build the mixture into `<out>/data` once (a finished build is reused)."""
    path = os.path.join(out, "data")
    sources, missing = present_sources(recipe)
    if not sources:
        raise ValueError("no study data: data.sources is empty and no optional source path exists "
                         f"({', '.join(missing)})")
    if not os.path.isfile(os.path.join(path, "train.jsonl")):
        build({"name": f"{recipe.name}-data", "seed": recipe.data.seed, "output_dir": path,
               "eval_fraction": recipe.data.eval_fraction, "units": {"method": "rule"},
               "sources": [asdict(s) for s in sources]})
    return path, missing


def _round_robin(groups: dict[str, list], n: int) -> list:
    """Up to `n` members taken one per group in turn (groups in sorted order)."""
    out: list = []
    lists = [list(groups[k]) for k in sorted(groups)]
    while len(out) < n and any(lists):
        for lst in lists:
            if lst and len(out) < n:
                out.append(lst.pop(0))
    return out


def select_heldout(pool: list[PreferenceRecord], n: int, seed: int, lengths: list[int] | None = None,
                   max_tokens: int | None = None) -> tuple[list[PreferenceRecord], int]:
    """`n` held-out records, an equal share per source in a seeded order (round-robin, so
    any prefix is mixed too); records whose judge prompt exceeds `max_tokens` are left out.
    Returns the records and how many were left out for length."""
    keep = [r for k, r in enumerate(pool) if max_tokens is None or lengths is None or lengths[k] <= max_tokens]
    by_source: dict[str, list[PreferenceRecord]] = defaultdict(list)
    for r in sorted(keep, key=lambda r: r.id):
        by_source[r.source].append(r)
    for k, src in enumerate(sorted(by_source)):
        random.Random(seed * 1009 + k).shuffle(by_source[src])
    return _round_robin(by_source, n), len(pool) - len(keep)


def select_bbq(pool: list[PreferenceRecord], n: int, seed: int) -> list[PreferenceRecord]:
    """The records of `n` held-out BBQ questions, alternating ambiguous and disambiguated contexts."""
    if n == 0:
        return []
    items = sorted((it for it in social.group(pool) if it.part == "bbq"), key=lambda it: it.id)
    random.Random(seed + 7).shuffle(items)
    by_cond: dict[str, list] = defaultdict(list)
    for it in items:
        by_cond[str(it.info["context_condition"])].append(it)
    chosen = {it.id for it in _round_robin(by_cond, n)}
    iid = {id(r): f"bbq:{r.meta.get('category')}:{r.meta.get('example_id')}" for r in pool}
    return [r for r in pool if iid[id(r)] in chosen]


def _judge_prompt_lengths(records: list[PreferenceRecord], recipe: StudyRecipe) -> list[int]:
    from transformers import AutoTokenizer

    style, template = recipe.judge_style()
    tok = AutoTokenizer.from_pretrained(resolve_model(recipe.model))
    return tdata.prompt_lengths([{"prompt": judge_messages(r, r.chosen_position, style, template)} for r in records], tok)


def max_prompt_tokens(recipe: StudyRecipe) -> int:
    if recipe.eval.max_prompt_tokens is not None:
        return recipe.eval.max_prompt_tokens
    grpo = recipe.trainer.get("grpo", {}) if isinstance(recipe.trainer.get("grpo"), dict) else {}
    return int(grpo.get("max_prompt_length", 2048))


def prepare_splits(recipe: StudyRecipe, out: str) -> Splits:
    """Build (or read back) the study's splits; see the module doc."""
    path = os.path.join(out, "splits")
    info_path = os.path.join(path, "info.json")
    if os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        return Splits(path, list(read_jsonl(os.path.join(path, "heldout.jsonl"))),
                      list(read_jsonl(os.path.join(path, "bbq.jsonl"))), info)
    data_dir, missing = build_data(recipe, out)
    train = list(read_jsonl(os.path.join(data_dir, "train.jsonl")))
    pool = list(read_jsonl(os.path.join(data_dir, "eval.jsonl")))
    limit = max_prompt_tokens(recipe)
    heldout, too_long = select_heldout(pool, recipe.eval.records, recipe.eval.seed,
                                       _judge_prompt_lengths(pool, recipe), limit)
    bbq = select_bbq(pool, recipe.eval.bbq_items, recipe.eval.seed)
    shared = {prompt_key(r.prompt) for r in train} & {prompt_key(r.prompt) for r in heldout + bbq}
    if shared:  # the build keeps prompts inside one split; never train on what is measured
        raise RuntimeError(f"{len(shared)} held-out prompts also occur in the training split of {data_dir}")
    kinds = recipe.data.label_kinds
    learnt = [r for r in train if kinds is None or r.label_kind in kinds]  # what the trainer keeps of train
    used = (recipe.data.max_train_records or len(learnt))
    splits = Splits(path, heldout, bbq)
    splits.info = {
        "data_dir": data_dir, "missing_optional_sources": missing,
        "train_records": len(train), "train_records_used": min(used, len(learnt)),
        "train_sources": _count(learnt[:used], "source"), "train_units_origin": _count(learnt[:used], "rationale_origin"),
        "train_with_units": sum(1 for r in learnt[:used] if r.rationale_units),
        "heldout_pool": len(pool), "heldout_records": len(heldout), "heldout_sources": _count(heldout, "source"),
        "heldout_with_units": sum(1 for r in heldout if r.rationale_units),
        "heldout_left_out_for_length": too_long, "max_prompt_tokens": limit,
        "bbq_records": len(bbq), "bbq_items": len(splits.bbq_items()), "prompts_shared_with_train": 0,
    }
    with stage_output(path, SPLITS_KIND) as staged:
        write_jsonl(train, os.path.join(staged.staging, "train.jsonl"))
        write_jsonl(heldout, os.path.join(staged.staging, "heldout.jsonl"))
        write_jsonl(bbq, os.path.join(staged.staging, "bbq.jsonl"))
        with open(os.path.join(staged.staging, "info.json"), "w", encoding="utf-8") as f:
            json.dump(splits.info, f, indent=1)
        staged.commit({"heldout": len(heldout), "bbq_records": len(bbq)})
    return splits


def _count(records: list[PreferenceRecord], attr: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in records:
        out[str(getattr(r, attr))] += 1
    return dict(sorted(out.items()))
