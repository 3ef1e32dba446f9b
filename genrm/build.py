"""Build a preference-record mixture from a data recipe.

Steps: load each source -> dedup by content hash -> per-source caps/weights ->
rationale units -> seeded A/B position balancing -> train/eval split with no
prompt shared across splits -> write (save_to_disk + JSONL + stats card).

Everything is written to a temporary directory and renamed at the end, so a
failed build leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Optional

from tqdm.auto import tqdm

from genrm.io import DataError
from genrm.record import PreferenceRecord, prompt_key, to_dataset, write_jsonl
from genrm.sides import neutralise_record_units
from genrm.sources import SOURCES, get_source
from genrm.units import make_decomposer, split_rule_based


@dataclass
class UnitsConfig:
    method: Literal["rule", "llm", "none"] = "rule"
    min_units: int = 3
    max_units: int = 7
    max_retries: int = 2
    on_failure: Literal["error", "rule"] = "error"
    backend: Optional[dict[str, Any]] = None  # for method=llm: a `make_backend` config


@dataclass
class SourceSpec:
    name: str
    path: Optional[str] = None
    max_records: Optional[int] = None
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildRecipe:
    """The data-build recipe schema (`data_prep/build.py recipe=...`)."""

    name: str = "mixture"
    seed: int = 0
    output_dir: str = "outputs/data/${name}"
    overwrite: bool = False
    eval_fraction: float = 0.1
    total_records: Optional[int] = None  # with weights: share of each source in the mixture
    position_balance: bool = True
    units: UnitsConfig = field(default_factory=UnitsConfig)
    sources: list[SourceSpec] = field(default_factory=list)


DEFAULTS: dict[str, Any] = asdict(BuildRecipe())
SOURCE_KEYS = {f.name for f in fields(SourceSpec)}


@dataclass
class BuildResult:
    output_dir: str
    train: list[PreferenceRecord]
    eval: list[PreferenceRecord]
    stats: dict[str, Any] = field(default_factory=dict)


def _check_sources(sources: list[dict]) -> None:
    if not sources:
        raise DataError("the recipe lists no sources (key 'sources')")
    for i, s in enumerate(sources):
        where = f"sources[{i}]"
        if not isinstance(s, dict) or "name" not in s:
            raise DataError("needs a 'name'", field="name", where=where)
        extra = set(s) - SOURCE_KEYS
        if extra:
            raise DataError(f"unknown keys {sorted(extra)}; allowed: {sorted(SOURCE_KEYS)}", where=where)
        if s["name"] not in SOURCES:
            raise DataError(f"unknown source {s['name']!r}; known sources: {', '.join(sorted(SOURCES))}", where=where)
        w = s.get("weight", 1.0)
        if not isinstance(w, (int, float)) or w <= 0:
            raise DataError(f"must be a positive number, got {w!r}", field="weight", where=where)
        cap = s.get("max_records")
        if cap is not None and (not isinstance(cap, int) or cap <= 0):
            raise DataError(f"must be a positive integer, got {cap!r}", field="max_records", where=where)


def _load_source(spec: dict) -> list[PreferenceRecord]:
    name = spec["name"]
    load = get_source(name)
    opts = dict(spec.get("options") or {})
    path = spec.get("path")
    it = load(path, **opts) if path is not None else load(**opts)
    records = list(tqdm(it, desc=f"load {name}", unit="rec", leave=False))
    if not records:
        raise DataError(f"source {name!r} yielded zero records (path={path!r})")
    return records


def _targets(specs: list[dict], available: list[int], total: int | None) -> list[int]:
    """Records to keep per source: capped by max_records; weights set shares of `total`,
    or (without a total) a weight below 1 keeps that fraction."""
    out = []
    wsum = sum(float(s.get("weight", 1.0)) for s in specs)
    for s, n in zip(specs, available):
        w = float(s.get("weight", 1.0))
        cap = s.get("max_records") or n
        if total is not None:
            want = round(total * w / wsum)
        else:
            want = round(n * min(w, 1.0))
        out.append(max(0, min(n, cap, want)))
    return out


def _add_units(records: list[PreferenceRecord], cfg: dict) -> Counter:
    """Fill `rationale_units` for records that have rationale text but no units."""
    counts: Counter = Counter()
    todo = [r for r in records if r.rationale.strip() and not r.rationale_units]
    if not todo or cfg.get("method", "rule") == "none":
        if todo:
            counts["left_without_units"] = len(todo)
        return counts
    decomposer = make_decomposer(cfg)
    max_units = int(cfg.get("max_units", 7))
    if decomposer is None:
        for r in tqdm(todo, desc="units (rule)", unit="rec", leave=False):
            r.rationale_units = split_rule_based(r.rationale, max_units=max_units)
            counts["rule"] += 1
        return counts
    fallback = cfg.get("on_failure", "error") == "rule"
    batch = 256  # requests in flight are bounded by the backend (e.g. `concurrency`)
    for start in tqdm(range(0, len(todo), batch), desc="units (llm)", unit="batch", leave=False):
        chunk = todo[start : start + batch]
        unit_lists = decomposer.decompose_batch([r.rationale for r in chunk], raise_errors=not fallback)
        for r, units in zip(chunk, unit_lists):
            if units is None:  # reported in the stats card, never hidden
                r.rationale_units = split_rule_based(r.rationale, max_units=max_units)
                counts["llm_failed_fell_back_to_rule"] += 1
            elif units:
                r.rationale_units = units
                r.rationale_origin = "llm"  # LLM-written units are never labelled human
                counts["llm"] += 1
    return counts


def balance_positions(records: list[PreferenceRecord], seed: int) -> None:
    """Exactly half (+-1) of the records show the chosen response as A, by a seeded shuffle."""
    order = sorted(range(len(records)), key=lambda i: records[i].id)
    random.Random(seed).shuffle(order)
    for rank, i in enumerate(order):
        records[i].chosen_position = "A" if rank % 2 == 0 else "B"


def split_by_prompt(records: list[PreferenceRecord], eval_fraction: float, seed: int):
    """Group records by prompt; whole groups go to eval until it holds `eval_fraction` of records."""
    if not 0.0 <= eval_fraction < 1.0:
        raise DataError(f"must be in [0, 1), got {eval_fraction}", field="eval_fraction")
    groups: dict[str, list[PreferenceRecord]] = {}
    for r in records:
        groups.setdefault(prompt_key(r.prompt), []).append(r)
    keys = sorted(groups)
    random.Random(seed + 1).shuffle(keys)
    target = round(eval_fraction * len(records))
    train, evals = [], []
    n_eval = 0
    for k in keys:
        if n_eval < target:
            evals.extend(groups[k])
            n_eval += len(groups[k])
        else:
            train.extend(groups[k])
    return train, evals


def stats_card(name: str, train: list[PreferenceRecord], evals: list[PreferenceRecord], extra: dict) -> dict:
    def counts(rs: list[PreferenceRecord]) -> dict:
        return {
            "records": len(rs),
            "domain": dict(sorted(Counter(r.domain for r in rs).items())),
            "source": dict(sorted(Counter(r.source for r in rs).items())),
            "label_kind": dict(sorted(Counter(r.label_kind for r in rs).items())),
            "rationale_origin": dict(sorted(Counter(r.rationale_origin for r in rs).items())),
            "chosen_position": dict(sorted(Counter(r.chosen_position for r in rs).items())),
            "mean_units": round(sum(len(r.rationale_units) for r in rs) / max(1, len(rs)), 3),
            "prompts": len({prompt_key(r.prompt) for r in rs}),
        }

    shared = {prompt_key(r.prompt) for r in train} & {prompt_key(r.prompt) for r in evals}
    return {"name": name, "splits": {"train": counts(train), "eval": counts(evals)}, "all": counts(train + evals),
            "prompts_shared_across_splits": len(shared), **extra}


def stats_markdown(stats: dict) -> str:
    lines = [f"# Data card: {stats['name']}", ""]
    a = stats["all"]
    lines.append(
        f"{a['records']} records ({stats['splits']['train']['records']} train / {stats['splits']['eval']['records']} eval), "
        f"{a['prompts']} prompts, {stats['prompts_shared_across_splits']} prompts shared across splits, "
        f"mean {a['mean_units']} rationale units per record."
    )
    lines.append("")
    for key in ("domain", "source", "label_kind", "rationale_origin", "chosen_position"):
        lines += [f"## {key}", "", "| value | train | eval | all |", "| --- | ---: | ---: | ---: |"]
        for v, n in a[key].items():
            tr = stats["splits"]["train"][key].get(v, 0)
            ev = stats["splits"]["eval"][key].get(v, 0)
            lines.append(f"| {v} | {tr} | {ev} | {n} |")
        lines.append("")
    lines += ["## sources", "", "| source | loaded | duplicates dropped | kept |", "| --- | ---: | ---: | ---: |"]
    for s in stats["sources"]:
        lines.append(f"| {s['name']} | {s['loaded']} | {s['duplicates']} | {s['kept']} |")
    lines.append("")
    if stats.get("units"):
        lines += ["## rationale units", ""] + [f"- {k}: {v}" for k, v in stats["units"].items()] + [""]
    return "\n".join(lines)


def build(cfg: dict) -> BuildResult:
    """Run a data recipe (a plain dict, e.g. from `genrm.config.load_recipe`)."""
    cfg = {**DEFAULTS, **cfg}
    out_dir = str(cfg["output_dir"]).replace("${name}", str(cfg["name"]))
    if os.path.exists(out_dir) and not cfg.get("overwrite"):
        raise DataError(f"output directory {out_dir} exists; pass overwrite=true to replace it")
    specs = [dict(s) for s in cfg["sources"]]
    _check_sources(specs)
    seed = int(cfg["seed"])
    t0 = time.time()

    loaded: list[list[PreferenceRecord]] = []
    seen: set[str] = set()
    source_stats = []
    for spec in specs:
        recs = _load_source(spec)
        unique = []
        for r in recs:
            if r.id not in seen:
                seen.add(r.id)
                unique.append(r)
        loaded.append(unique)
        source_stats.append({"name": spec["name"], "loaded": len(recs), "duplicates": len(recs) - len(unique)})

    targets = _targets(specs, [len(x) for x in loaded], cfg.get("total_records"))
    records: list[PreferenceRecord] = []
    for i, (recs, n) in enumerate(zip(loaded, targets)):
        if n < len(recs):  # seeded sample, in a stable order
            idx = sorted(random.Random(seed + 17 * (i + 1)).sample(range(len(recs)), n))
            recs = [recs[j] for j in idx]
        source_stats[i]["kept"] = len(recs)
        records.extend(recs)
    if not records:
        raise DataError("the mixture is empty after caps and weights")

    unit_counts = _add_units(records, dict(cfg.get("units") or {}))
    # "Response 1/2" in units -> {chosen}/{rejected}, while the source's order is still known
    unit_counts["side_neutral"] = sum(neutralise_record_units(r) for r in records)
    if cfg.get("position_balance", True):
        balance_positions(records, seed)
    train, evals = split_by_prompt(records, float(cfg["eval_fraction"]), seed)
    stats = stats_card(
        cfg["name"], train, evals,
        {"seed": seed, "sources": source_stats, "units": dict(unit_counts), "seconds": round(time.time() - t0, 2)},
    )
    _write(out_dir, train, evals, stats, cfg)
    return BuildResult(out_dir, train, evals, stats)


def _write(out_dir: str, train, evals, stats: dict, cfg: dict) -> None:
    import datasets

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    try:
        write_jsonl(train, os.path.join(tmp, "train.jsonl"))
        write_jsonl(evals, os.path.join(tmp, "eval.jsonl"))
        datasets.DatasetDict({"train": to_dataset(train), "eval": to_dataset(evals)}).save_to_disk(
            os.path.join(tmp, "hf")
        )
        with open(os.path.join(tmp, "stats.json"), "w") as f:
            json.dump(stats, f, indent=2)
        with open(os.path.join(tmp, "stats.md"), "w") as f:
            f.write(stats_markdown(stats))
        with open(os.path.join(tmp, "recipe.json"), "w") as f:
            json.dump(cfg, f, indent=2, default=str)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
