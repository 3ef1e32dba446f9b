"""Build a preference-record mixture from a data recipe.

Steps: check the recipe, the source paths and the output directory -> load each
source -> dedup by content hash -> per-source caps/weights -> rationale units ->
seeded A/B position balancing -> train/eval split with no prompt shared across
splits -> write (save_to_disk + JSONL + stats card).

Everything is written to a staging directory beside `output_dir` and swapped in
at the end (`genrm.staging.stage_output`): a failed or killed build leaves the
previous build complete, and `overwrite=true` only ever replaces a directory
that a build wrote (its `.genrm-output.json` holds a checksum manifest).

Relative paths (sources, output_dir) are read from the current directory.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from tqdm.auto import tqdm

from genrm.config import from_dict
from genrm.data.rows import DataError
from genrm.staging import stage_output
from genrm.data.record import PreferenceRecord, prompt_key, to_dataset, write_jsonl
from genrm.data.sides import neutralise_record_units
from genrm.data.sources import get_source
from genrm.data.recipe import BuildRecipe, SourceSpec, UnitsConfig, check_source
from genrm.data.units import make_decomposer, split_rule_based

log = logging.getLogger(__name__)
OUTPUT_KIND = "data"


@dataclass
class BuildResult:
    output_dir: str
    train: list[PreferenceRecord]
    eval: list[PreferenceRecord]
    stats: dict[str, Any] = field(default_factory=dict)


def _load_source(spec: SourceSpec, i: int) -> tuple[list[PreferenceRecord], dict]:
    load = get_source(spec.name)
    opts = dict(spec.options)
    counts: dict = {}
    if "stats" in inspect.signature(load).parameters:
        opts["stats"] = counts
    it = load(spec.path, **opts) if spec.path is not None else load(**opts)
    try:
        records = list(tqdm(it, desc=f"load {spec.name}", unit="rec", leave=False))
    except RecursionError:
        raise DataError(f"source {spec.name!r} (key 'sources.{i}'): input nested too deeply to read", where=spec.path) from None
    if not records:
        raise DataError(f"source {spec.name!r} yielded zero records (path={spec.path!r})")
    return records, counts


def _targets(specs: list[SourceSpec], available: list[int], total: int | None) -> tuple[list[int], list[str]]:
    """Records to keep per source: capped by max_records; weights set shares of `total`,
    or (without a total) a weight below 1 keeps that fraction. Also the warnings for
    shares that the sources cannot fill."""
    out, short = [], []
    wsum = sum(s.weight for s in specs)
    for i, (s, n) in enumerate(zip(specs, available)):
        cap = s.max_records or n
        want = round(total * s.weight / wsum) if total is not None else round(n * min(s.weight, 1.0))
        keep = max(0, min(n, cap, want))
        if total is not None and keep < want:
            short.append(f"sources.{i} ({s.name}) has {min(n, cap)} of the {want} its weight asks for")
        out.append(keep)
    warnings = []
    if total is not None and sum(out) < total:
        warnings.append(f"total_records={total} but the sources give {sum(out)}: " + "; ".join(short))
    return out, warnings


def _add_units(records: list[PreferenceRecord], cfg: dict, decomposer: Any = None) -> Counter:
    """Fill `rationale_units` for records that have rationale text but no units
    (`decomposer`: one made already for `method: llm`)."""
    counts: Counter = Counter()
    todo = [r for r in records if r.rationale.strip() and not r.rationale_units]
    if not todo or cfg.get("method", "rule") == "none":
        if todo:
            counts["left_without_units"] = len(todo)
        return counts
    decomposer = decomposer or make_decomposer(cfg)
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
    short = stats.get("units_shortfall")
    if short:
        per = ", ".join(f"{k}: {v}" for k, v in short["units_per_record"].items())
        lines += ["## units per record", "", f"- records per unit count: {per}",
                  f"- below min_units={short['min_units']}: {short['records_below']}"
                  + (f" (by origin: {short['below_by_origin']})" if short["records_below"] else "")]
        if set(short["below_by_origin"]) - {"llm"}:
            lines.append("- min_units bounds LLM decomposition (units.method: llm); template, human and rule "
                         "units are not padded: they hold what the item's gold structure or the annotator gave")
        lines.append("")
    if stats.get("warnings"):
        lines += ["## warnings", ""] + [f"- {w}" for w in stats["warnings"]] + [""]
    return "\n".join(lines)


_LEGACY_FILES = {"train.jsonl", "eval.jsonl", "hf", "stats.json", "stats.md", "recipe.json"}


def _legacy_build(path: str) -> bool:
    """A build written before outputs carried a marker: exactly the files a build writes,
    and its recipe.json lists sources. `overwrite=true` may replace it."""
    try:
        if set(os.listdir(path)) != _LEGACY_FILES or not os.path.isdir(os.path.join(path, "hf")):
            return False
        with open(os.path.join(path, "recipe.json"), encoding="utf-8") as f:
            return isinstance(json.load(f).get("sources"), list)
    except (OSError, ValueError, AttributeError):
        return False


def _early_decomposer(units: UnitsConfig) -> Any:
    """An HTTP decomposer is made (and its settings checked) before any data loads; a local
    model is loaded only when some record needs units."""
    if units.method == "llm" and (units.backend or {}).get("kind", "hf") == "openai":
        return make_decomposer(asdict(units))
    return None


def _units_shortfall(records: list[PreferenceRecord], min_units: int) -> dict:
    """How many records have fewer than `min_units` units, by where their units came from."""
    short = Counter(r.rationale_origin for r in records if len(r.rationale_units) < min_units)
    per = Counter(len(r.rationale_units) for r in records)
    return {"min_units": min_units, "records_below": sum(short.values()),
            "below_by_origin": dict(sorted(short.items())), "units_per_record": dict(sorted(per.items()))}


def _no_units_warnings(specs: list[SourceSpec], kept: list[list[PreferenceRecord]], stats: list[dict]) -> list[str]:
    """One line per source none of whose records has rationale units, with the reason the
    source gives (`no_units_reason` in its stats: e.g. the rationale columns looked for)."""
    out = []
    for i, (spec, recs) in enumerate(zip(specs, kept)):
        if recs and not any(r.rationale_units for r in recs):
            reason = stats[i].get("reader", {}).get("no_units_reason") or (
                "its records carry no rationale text" if not any(r.rationale.strip() for r in recs)
                else "the unit method left them empty")
            out.append(f"sources.{i} ({spec.name}): none of its {len(recs)} records has rationale units: {reason}")
    return out


def build(cfg: BuildRecipe | dict) -> BuildResult:
    """Run a data recipe: a `BuildRecipe`, or a plain dict checked like a recipe file."""
    recipe = cfg if isinstance(cfg, BuildRecipe) else from_dict(BuildRecipe, dict(cfg))
    out_dir = recipe.output_dir.replace("${name}", recipe.name)
    specs = recipe.sources
    for i, spec in enumerate(specs):
        check_source(spec, i)
    decomposer = _early_decomposer(recipe.units)
    t0 = time.time()
    with stage_output(out_dir, OUTPUT_KIND, overwrite=recipe.overwrite, legacy=_legacy_build) as staged:
        result = _run(recipe, staged.staging, decomposer)
        result.stats["seconds"] = round(time.time() - t0, 2)
        _write(staged.staging, result, recipe)
        staged.commit({"name": recipe.name, "records": result.stats["all"]["records"]})
    result.output_dir = staged.path
    return result


def _run(recipe: BuildRecipe, staging: str, decomposer: Any) -> BuildResult:
    seed = recipe.seed
    loaded: list[list[PreferenceRecord]] = []
    seen: set[str] = set()
    source_stats = []
    for i, spec in enumerate(recipe.sources):
        recs, counts = _load_source(spec, i)
        unique = []
        for r in recs:
            if r.id not in seen:
                seen.add(r.id)
                unique.append(r)
        loaded.append(unique)
        source_stats.append({"name": spec.name, "loaded": len(recs), "duplicates": len(recs) - len(unique),
                             **({"reader": counts} if counts else {})})

    targets, warnings = _targets(recipe.sources, [len(x) for x in loaded], recipe.total_records)
    for w in warnings:
        log.warning(w)
    records: list[PreferenceRecord] = []
    kept: list[list[PreferenceRecord]] = []
    for i, (recs, n) in enumerate(zip(loaded, targets)):
        if n < len(recs):  # seeded sample, in a stable order
            idx = sorted(random.Random(seed + 17 * (i + 1)).sample(range(len(recs)), n))
            recs = [recs[j] for j in idx]
        source_stats[i]["kept"] = len(recs)
        kept.append(recs)
        records.extend(recs)
    if not records:
        raise DataError("the mixture is empty after caps and weights")

    units_cfg = asdict(recipe.units)
    unit_counts = _add_units(records, units_cfg, decomposer)
    if recipe.units.method != "none":
        for w in _no_units_warnings(recipe.sources, kept, source_stats):
            log.warning(w)
            warnings.append(w)
    # "Response 1/2" in units -> {chosen}/{rejected}, while the source's order is still known
    unit_counts["side_neutral"] = sum(neutralise_record_units(r) for r in records)
    if recipe.position_balance:
        balance_positions(records, seed)
    train, evals = split_by_prompt(records, recipe.eval_fraction, seed)
    extra = {"seed": seed, "sources": source_stats, "units": dict(unit_counts),
             "units_shortfall": _units_shortfall(records, recipe.units.min_units), "warnings": warnings}
    stats = stats_card(recipe.name, train, evals, extra)
    return BuildResult(staging, train, evals, stats)


def _write(out: str, result: BuildResult, recipe: BuildRecipe) -> None:
    import datasets

    write_jsonl(result.train, os.path.join(out, "train.jsonl"))
    write_jsonl(result.eval, os.path.join(out, "eval.jsonl"))
    datasets.DatasetDict({"train": to_dataset(result.train), "eval": to_dataset(result.eval)}).save_to_disk(
        os.path.join(out, "hf")
    )
    with open(os.path.join(out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(result.stats, f, indent=2)
    with open(os.path.join(out, "stats.md"), "w", encoding="utf-8") as f:
        f.write(stats_markdown(result.stats))
    with open(os.path.join(out, "recipe.json"), "w", encoding="utf-8") as f:
        json.dump(asdict(recipe), f, indent=2, default=str)
