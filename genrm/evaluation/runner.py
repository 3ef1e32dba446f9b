"""Run an evaluation recipe: every model on every suite, results written as items finish.

Layout of `output_dir`:

    recipe.yaml                      the resolved recipe
    <model>/<suite>.jsonl            one row per item, appended as the item finishes
    <model>/<suite>.meta.json        fingerprints, judge calls and wall time (summed over resumes)
    summary.json, results.csv, report.md, plots/  rebuilt from the files above (the `rescore` path)

A run killed at any point resumes from the JSONL: items already there are kept and
not redone, a torn last line is cut off, and items whose backend calls failed for
good are retried (the newest row of an id wins, so nothing is counted twice).
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Sequence

from genrm.config import dump_recipe, to_dict
from genrm.data.rows import DataError
from genrm.evaluation.fingerprint import data_fingerprint, model_fingerprint
from genrm.evaluation.models import load_model
from genrm.evaluation.report import write_report
from genrm.evaluation.results import ResultsFile, jsonable, read_meta, suite_module
from genrm.evaluation.schema import SUITES, EvalRecipe, ModelSpec
from genrm.evaluation.suites.common import first_error
from genrm.evaluation.summary import build_summary
from genrm.outputs import claim_output_dir, write_json
from genrm.redact import redact_url
from genrm.reward.matching import make_matcher

log = logging.getLogger(__name__)
KIND = "eval"


def run_suite(model: Any, module: Any, items: Sequence[Any], results: ResultsFile, seed: int,
              desc: str) -> tuple[int, float, int]:
    """Evaluate the items not yet in `results`; (model calls, seconds, items written)."""
    done = {i for i, row in results.read().items() if not row.get("error")}
    todo = [it for it in items if it.id not in done]
    if not todo:
        return 0, 0.0, 0
    comps = [module.comparisons(it, seed) for it in todo]
    owner: dict[str, int] = {}
    for k, cs in enumerate(comps):
        for c in cs:
            if c.id in owner:
                raise RuntimeError(f"{module.NAME}: comparison id {c.id!r} is not unique")  # a suite bug
            owner[c.id] = k
    pending: dict[int, dict[str, dict]] = {}
    written = 0

    def on_result(res: dict) -> None:
        nonlocal written
        k = owner[res["id"]]
        got = pending.setdefault(k, {})
        got[res["id"]] = res
        if len(got) < len(comps[k]):
            return
        del pending[k]
        per = [got[c.id] for c in comps[k]]
        err = first_error(per)
        row: dict[str, Any] = {"id": todo[k].id, "item_sha": data_fingerprint([jsonable(todo[k])]), "error": err}
        if err is None:
            row.update(module.item_row(todo[k], per))
        row["comparisons"] = per
        results.append(row)
        written += 1

    t0 = time.perf_counter()
    calls = model.compare([c for cs in comps for c in cs], on_result, desc=desc)
    return calls, time.perf_counter() - t0, written


def _model_dir(output_dir: str, spec: ModelSpec) -> str:
    return os.path.join(output_dir, spec.label)


def _check_model(meta: dict, fp: dict, where: str) -> None:
    old = meta.get("model_fingerprint") or {}
    if old.get("sha") and fp.get("sha") and old["sha"] != fp["sha"]:
        raise DataError(f"results here came from another model (fingerprint {old['sha']} != {fp['sha']}); "
                        "use overwrite=true or a new output_dir", where=where)


def _check_resume(meta: dict, settings: dict, rows: dict, items: list, where: str) -> None:
    """A resume continues the same work or stops: the same judge settings and seed, and every
    item already judged unchanged (same id, same content), else one line naming what changed."""
    old = meta.get("settings")
    if old is not None and old != settings:
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        raise DataError(f"results here were judged with other settings ({', '.join(changed)} changed: "
                        f"{', '.join(f'{k}={old.get(k)!r} then, {settings.get(k)!r} now' for k in changed[:2])}); "
                        "restore them, or use overwrite=true or a new output_dir", where=where)
    for it in items:
        row = rows.get(it.id)
        if row and row.get("item_sha") and row["item_sha"] != data_fingerprint([jsonable(it)]):
            raise DataError(f"item {it.id!r} changed since it was judged here (the data under the same ids is "
                            "not the same); use overwrite=true or a new output_dir", where=where)


def _settings(recipe: EvalRecipe) -> dict[str, Any]:
    """What a judged item depends on besides the model and the item: judge settings and seed."""
    judge = {k: v for k, v in to_dict(recipe.judge).items() if k != "chunk_size"}  # batching only
    return {**{f"judge.{k}": v for k, v in sorted(judge.items())}, "seed": recipe.seed}


def evaluator_owns(rel: str) -> bool:
    """Whether the evaluator writes the file at `rel` (a path inside its output_dir)."""
    parts = rel.split("/")
    name = re.sub(r"\.tmp-\d+$", "", parts[-1])  # write_json's temporary files
    if len(parts) == 1:
        return name in ("recipe.yaml", "summary.json", "report.md", "results.csv")
    if len(parts) == 2 and parts[0] == "plots":
        return name.endswith(".png")
    return len(parts) == 2 and name in {f"{s}{ext}" for s in SUITES for ext in (".jsonl", ".meta.json")}


def run(recipe: EvalRecipe) -> dict[str, Any]:
    """Evaluate, then write summary.json, report.md and plots; returns the summary."""
    # overwrite wins: resume defaults to true, and overwrite=true must give a fresh run
    resume = recipe.resume and not recipe.overwrite
    out = claim_output_dir(recipe.output_dir, KIND, overwrite=recipe.overwrite, resume=resume, owned=evaluator_owns)
    dump_recipe(recipe, os.path.join(out, "recipe.yaml"))
    suites: dict[str, tuple[Any, list, str]] = {}
    for name in recipe.suites:
        mod = suite_module(name)
        data = getattr(recipe.data, name)
        limit = getattr(data, "limit", None)  # a suite's own limit replaces the recipe's
        items = mod.load_items(data, recipe.limit if limit is None else limit)
        suites[name] = (mod, items, data_fingerprint(jsonable(it) for it in items))
        log.info("suite %s: %d items", name, len(items))
    cache: dict = {}
    matcher = None
    settings = _settings(recipe)
    for spec in recipe.models:
        fp = model_fingerprint(spec)
        mdir = _model_dir(out, spec)
        model = None
        for name, (mod, items, data_fp) in suites.items():
            if hasattr(mod, "items_for"):  # work that depends on the model kind (rewardbench2's protocols)
                items = mod.items_for(items, spec.kind)
                data_fp = data_fingerprint(jsonable(it) for it in items)
            if spec.limit is not None and spec.limit < len(items):  # the model's own cap
                items = items[: spec.limit]
                data_fp = data_fingerprint(jsonable(it) for it in items)
            rf = ResultsFile(os.path.join(mdir, f"{name}.jsonl"))
            meta_path = os.path.join(mdir, f"{name}.meta.json")
            meta = read_meta(meta_path)
            _check_model(meta, fp, meta_path)
            rows = rf.read()
            _check_resume(meta, settings, rows, items, meta_path)
            done = {i for i, r in rows.items() if not r.get("error")}
            if all(it.id in done for it in items):
                continue
            if name == "rationale" and spec.kind == "genrm" and matcher is None:
                matcher = make_matcher(dict(recipe.matcher))
            if model is None:
                model = load_model(spec, recipe.judge, recipe.seed, cache=cache)
            if spec.kind == "genrm":  # reasons are matched only where human units exist
                model.matcher = matcher if name == "rationale" else None
            calls, seconds, written = run_suite(model, mod, items, rf, recipe.seed, f"{spec.label} {name}")
            meta.update(model=spec.label, kind=spec.kind, seed=recipe.seed, settings=settings, model_fingerprint=fp,
                        data_fingerprint=data_fp, items_expected=len(items),
                        model_calls=meta.get("model_calls", 0) + calls,
                        seconds=round(meta.get("seconds", 0.0) + seconds, 3), runs=meta.get("runs", 0) + 1,
                        bootstrap_resamples=recipe.bootstrap_resamples)
            write_json(meta_path, meta)
            log.info("%s %s: %d items in %.1fs, %d model calls", spec.label, name, written, seconds, calls)
    current = {name: {it.id for it in items} for name, (_, items, _) in suites.items()}
    summary = build_summary(out, keep=current, name=recipe.name,
                            models=[(s.label, s.kind, redact_url(s.ref)) for s in recipe.models],
                            suites=list(recipe.suites),
                            resamples=recipe.bootstrap_resamples)
    write_report(summary, out, plots=recipe.plots)
    return summary
