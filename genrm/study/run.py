"""Run a study: the grid of arms x seeds through the trainer and the evaluator, then the report.

    python train/study.py recipe=recipes/study/toy_cpu.yaml

Layout of `output_dir`:

    recipe.yaml, settings.json   the resolved recipe; the settings a resume must match
    data/, splits/               the built mixture and the held-out split (genrm.study.data)
    recipes/<arm>-seed<s>.yaml   each run's trainer recipe (rerunnable with train/genrm.py)
    runs/<arm>/seed<s>/          each trained run (the trainer's output dir = the model)
    evals/<arm>-seed<s>/         per-item judgments of the held-out split (base: evals/base)
    results/<arm>-seed<s>.json   a finished arm/seed: its measures (the "finished" mark)
    progress.jsonl               start / done / skip events with times
    study.json, study.md, plots/ the report

Resuming: a rerun with the same recipe skips every arm/seed with a results file; an
unfinished run continues through the trainer's own `resume=true` (finished stages are
skipped, the unfinished one restarts from its last checkpoint), and a measurement
continues item by item.
"""

from __future__ import annotations

import gc
import glob
import json
import os
import re
import shutil
import time
from typing import Any, Callable

import yaml
from tqdm.auto import tqdm

from genrm.config import RecipeError, dump_recipe, load_recipe, to_dict
from genrm.evaluation.runner import evaluator_owns
from genrm.outputs import claim_output_dir, write_json
from genrm.reward.matching import make_matcher
from genrm.study import measures as M
from genrm.study.data import prepare_splits
from genrm.study.plan import plan_text
from genrm.study.recipe import ARMS, REWARD_OF, StudyRecipe
from genrm.study.report import build_study, write_report
from genrm.training.run import train, trainer_owns

KIND = "study"
# Keys that may change between a study and its resume (they do not change finished results).
FREE_KEYS = ("output_dir", "overwrite", "resume", "dry_run", "note", "arms", "seeds", "stats", "keep_checkpoints", "plots")


_STUDY_FILES = ("recipe.yaml", "settings.json", "progress.jsonl", "study.json", "study.md")
_STUDY_LEAVES = {"results": ".json", "recipes": ".yaml", "plots": ".png"}


def study_owns(rel: str) -> bool:
    """Whether a study writes the file at `rel` (inside its output_dir): overwrite=true
    replaces only these, and refuses a directory holding anything else."""
    parts = rel.split("/")
    name = re.sub(r"\.tmp-\d+$", "", parts[-1])  # write_json's temporary files
    if len(parts) == 1:
        return name in _STUDY_FILES
    top = parts[0]
    if top in ("data", "splits"):  # the study's data build and split files
        return True
    if top == "runs" and len(parts) >= 4:  # runs/<arm>/seed<s>/...: the trainer's own output
        return trainer_owns("/".join(parts[3:]))
    if top == "evals" and len(parts) >= 3:  # evals/<unit>/...: the evaluator's own output
        return evaluator_owns("/".join(parts[2:]))
    return len(parts) == 2 and top in _STUDY_LEAVES and name.endswith(_STUDY_LEAVES[top])


def run_dir(out: str, arm: str, seed: int) -> str:
    return os.path.join(out, "runs", arm, f"seed{seed}")


def eval_dir(out: str, arm: str, seed: int) -> str:
    return os.path.join(out, "evals", "base" if arm == "base" else f"{arm}-seed{seed}")


def result_path(out: str, arm: str, seed: int) -> str:
    return os.path.join(out, "results", f"{arm}-seed{seed}.json")


def grid(recipe: StudyRecipe) -> list[tuple[str, int]]:
    """(arm, seed) in run order: base first (measured once), then per seed its SFT warm start and GRPO arms."""
    units = [("base", s) for s in recipe.seeds] if "base" in recipe.arms else []
    for s in recipe.seeds:
        units += [(a, s) for a in recipe.trained_arms()]
    return units


def _first_difference(a: Any, b: Any, key: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            got = _first_difference(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))
            if got:
                return got
        return None
    return None if a == b else key


def check_settings(out: str, recipe: StudyRecipe) -> None:
    """A resumed study must have the settings its finished results were made with."""
    now = {k: v for k, v in to_dict(recipe).items() if k not in FREE_KEYS}
    path = os.path.join(out, "settings.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
        diff = _first_difference(json.loads(json.dumps(before)), json.loads(json.dumps(now)))
        if diff:
            raise RecipeError(f"output_dir {out} holds a study made with another '{diff}'; finished runs would not "
                              "match: restore the setting, or use overwrite=true or a new output_dir")
    else:
        write_json(path, now)


def log_event(out: str, event: str, **info: Any) -> None:
    with open(os.path.join(out, "progress.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, "time": time.time(), **info}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def prune(path: str) -> None:
    """Intermediate trainer checkpoints of a finished run (its final model and logs stay)."""
    for ck in glob.glob(os.path.join(path, "sft", "checkpoint-*")) + glob.glob(os.path.join(path, "grpo", "checkpoint-*")):
        shutil.rmtree(ck, ignore_errors=True)


def _read(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _finished(path: str, measure: bool) -> bool:
    """A results file marks a finished arm/seed; an SFT warm start trained unmeasured is
    measured when `sft` joins the arms later (its training is not redone)."""
    got = _read(path)
    return bool(got) and (not measure or bool(got.get("measured")))


def train_unit(recipe: StudyRecipe, out: str, splits_dir: str, arm: str, seed: int) -> str:
    """Train one arm/seed through `genrm.training.run.train` (resume=true); returns the model dir."""
    path = run_dir(out, arm, seed)
    cfg = recipe.train_config(arm, seed, path, splits_dir, run_dir(out, "sft", seed))
    rpath = os.path.join(out, "recipes", f"{arm}-seed{seed}.yaml")
    os.makedirs(os.path.dirname(rpath), exist_ok=True)
    with open(rpath, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True)
    train([f"recipe={rpath}"])
    gc.collect()
    return path


def run_unit(recipe: StudyRecipe, out: str, splits: Any, arm: str, seed: int, matcher: Callable[[], Any]) -> dict:
    t0 = time.time()
    model = recipe.model if arm == "base" else train_unit(recipe, out, splits.dir, arm, seed)
    t1 = time.time()
    unit: dict[str, Any] = {"arm": arm, "seed": seed, "model": model, "eval_dir": eval_dir(out, arm, seed),
                            "train_seconds": round(t1 - t0, 1), "measured": arm in recipe.arms}
    if arm in recipe.arms:  # an unlisted SFT run is only the GRPO arms' warm start
        M.evaluate_model(recipe, model, unit["eval_dir"], splits, matcher(), f"{arm}-seed{seed}")
        unit["measures"] = M.unit_measures(recipe, unit["eval_dir"], splits)
        unit["curve"] = M.learning_curve(model) if arm in REWARD_OF else []
        if arm in REWARD_OF:
            unit["grpo"] = M.grpo_summary(model)
    unit["eval_seconds"] = round(time.time() - t1, 1)
    _free_cuda()
    return unit


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_study(argv: list[str]) -> int:
    recipe = load_recipe(argv, StudyRecipe)
    out = recipe.output_path()
    if recipe.dry_run:
        print(plan_text(recipe, grid(recipe)))
        return 0
    claim_output_dir(out, KIND, overwrite=recipe.overwrite, resume=recipe.resume, owned=study_owns)
    check_settings(out, recipe)
    dump_recipe(recipe, os.path.join(out, "recipe.yaml"))
    t0 = time.time()
    splits = prepare_splits(recipe, out)
    prep = time.time() - t0
    cache: dict[str, Any] = {}

    def matcher() -> Any:
        if "m" not in cache:
            cache["m"] = make_matcher(dict(recipe.eval.matcher))
        return cache["m"]

    units = grid(recipe)
    for arm, seed in tqdm(units, desc="study", unit="run"):
        path = result_path(out, arm, seed)
        if _finished(path, arm in recipe.arms):
            print(f"study: {arm} seed {seed} finished earlier, skipped")
            log_event(out, "skip", arm=arm, seed=seed)
        else:
            print(f"study: {arm} seed {seed} ...")
            log_event(out, "start", arm=arm, seed=seed)
            earlier = _read(path)  # an SFT warm start trained earlier, measured now: keep its time
            unit = run_unit(recipe, out, splits, arm, seed, matcher)
            unit["train_seconds"] = round(unit["train_seconds"] + earlier.get("train_seconds", 0.0), 1)
            unit["prep_seconds"] = round(prep + earlier.get("prep_seconds", 0.0), 1)
            prep = 0.0
            write_json(path, unit)
            log_event(out, "done", arm=arm, seed=seed, seconds=unit["train_seconds"] + unit["eval_seconds"])
        if arm != "base" and not recipe.keep_checkpoints:
            prune(run_dir(out, arm, seed))
    finished = [_read(result_path(out, arm, seed)) for arm, seed in units]
    wall = sum(u["train_seconds"] + u["eval_seconds"] + u.get("prep_seconds", 0.0) for u in finished)
    study = build_study(recipe, out, splits, [u for u in finished if u["measured"]], wall)
    files = write_report(study, out, plots=recipe.plots)
    print(f"study: {files['md']}")
    print(f"study: {files['json']}")
    for c in study["claims"]:
        print(f"  {c['id']}: {c['verdict']}")
    return 0


__all__ = ["run_study", "grid", "ARMS"]
