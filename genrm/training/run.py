"""A whole training run: validate, plan, SFT warm start, GRPO, final checkpoint.

    accelerate launch train/genrm.py recipe=recipes/smoke_cpu.yaml key=value ...

Output directory layout (the directory itself is the model reference of the result):

    recipe.yaml        the fully resolved recipe
    plan.json          the dry-run plan
    sft/               SFT checkpoints, sft/final (the warm-started model), DONE when finished
    grpo/              GRPO checkpoints, rows.rank<r>.jsonl (record ids per generation batch)
    config.json, model.safetensors, tokenizer files   the final model (or a LoRA adapter)
    genrm_judge.json   its judge style, template and verdict format (read by `judge_for_model`)
    eval_history.json  eval-step results;  compare.json  base vs trained (eval.compare_base)
    README.md          the model card: base model, data fingerprint, reward, judge, figures, how to load it

`resume=true` skips finished stages and continues the unfinished one from its last
checkpoint.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from genrm.backends.hf import HFBackend
from genrm.config import RecipeError, dump_recipe, load_recipe
from genrm.data.errors import DataError
from genrm.evaluation.judging import judge_records
from genrm.judge.config import write_judge_record
from genrm.outputs import claim_output_dir
from genrm.reward.rewards import matcher_from_config
from genrm.training import data as tdata
from genrm.training import dist
from genrm.training.card import write_model_card
from genrm.training.models import load_tokenizer, model_path
from genrm.training.plan import make_plan, preflight
from genrm.training.recipe import TrainRecipe
from genrm.training.stages import run_grpo, run_sft, stage_done


_is_main = dist.is_main


def setup_logging(recipe: TrainRecipe) -> None:
    if recipe.report_to == "wandb":
        if not os.environ.get("WANDB_API_KEY"):
            os.environ.setdefault("WANDB_MODE", "offline")  # no key: a real run, kept on disk
        os.environ.setdefault("WANDB_PROJECT", "genrm")
        os.environ.setdefault("WANDB_DIR", recipe.output_dir)


def compare_models(recipe: TrainRecipe, evals: list, refs: dict[str, str], matcher: Any) -> dict[str, dict]:
    """Judge the eval split with each model (greedy) and return the summaries side by side."""
    style, template = tdata.judge_style(recipe)
    records = evals[: recipe.eval.max_records]
    out = {}
    for name, ref in refs.items():
        backend = HFBackend(model=ref, dtype="float32" if recipe.model.dtype == "auto" else recipe.model.dtype)
        report = judge_records(records, backend, style=style, template=template, matcher=matcher,
                               sampling=recipe.judge.sampling(max_new_tokens=recipe.eval.max_new_tokens), top_k=recipe.eval.top_k,
                               desc=f"judge eval split ({name})")
        out[name] = report.summary()
        del backend
    return out


def comparison_table(results: dict[str, dict]) -> str:
    rows = [("outcome accuracy", "accuracy"), ("parse-failure rate", "parse_failure_rate"),
            ("rationale consistency (top-5)", "rationale_consistency"), ("items", "items")]
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, key in rows:
        cells = []
        for n in names:
            v = results[n].get(key)
            cells.append("n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# What a training run writes at the top of its output_dir (the stage directories and the
# offline wandb run are wholly its own); overwrite=true refuses to delete anything else.
_TRAIN_DIRS = ("sft", "grpo", "wandb", "adapter")
_TRAIN_FILES = re.compile(r"(config\.json|generation_config\.json|model(-\d+-of-\d+)?\.safetensors|"
                          r"model\.safetensors\.index\.json|adapter_(config\.json|model\.safetensors)|"
                          r"tokenizer(_config)?\.json|special_tokens_map\.json|chat_template\.jinja|vocab\.json|"
                          r"merges\.txt|training_args\.bin|genrm_judge\.json|plan\.json|recipe\.yaml|eval_history\.json|"
                          r"compare\.json|README\.md)"
                          r"(\.tmp-\d+)?")


def trainer_owns(rel: str) -> bool:
    """Whether a training run writes the file at `rel` (a path inside its output_dir)."""
    top = rel.split("/", 1)[0]
    return top in _TRAIN_DIRS if "/" in rel else bool(_TRAIN_FILES.fullmatch(rel))


def train(argv: list[str]) -> int:
    recipe = load_recipe(argv, TrainRecipe)
    recipe.output_dir = recipe.output_dir.replace("${name}", recipe.name)
    dist.init_processes()
    if recipe.dry_run:
        return dry_run(recipe)
    data = dist.main_first(lambda: tdata.load_data(recipe))  # one build (data.build), read by every rank
    preflight(recipe, data, strict=True)
    tokenizer = None
    out = recipe.output_dir
    if _is_main():
        claim_output_dir(out, "train", overwrite=recipe.overwrite, resume=recipe.resume, owned=trainer_owns)
    dist.barrier()
    setup_logging(recipe)
    if _is_main():
        dump_recipe(recipe, os.path.join(out, "recipe.yaml"))

        tokenizer = load_tokenizer(recipe)
        with open(os.path.join(out, "plan.json"), "w") as f:
            json.dump(make_plan(recipe, data, tokenizer).as_dict(), f, indent=2)

    base = model_path(recipe.model.ref)
    ref = base
    sft_dir, grpo_dir = os.path.join(out, "sft"), os.path.join(out, "grpo")
    if recipe.sft.enabled:
        if stage_done(sft_dir):
            print(f"sft: finished earlier, using {sft_dir}/final")
            ref = os.path.join(sft_dir, "final")
        else:
            ref = run_sft(recipe, data.train, ref, sft_dir)
    matcher = None
    if recipe.grpo.enabled:
        if stage_done(grpo_dir):
            print(f"grpo: finished earlier; the final model is in {out}")
        else:
            callback = run_grpo(recipe, data.train, data.eval, ref, grpo_dir, out)
            if callback is not None and _is_main():
                with open(os.path.join(out, "eval_history.json"), "w") as f:
                    json.dump(callback.history, f, indent=2)
    elif _is_main():
        _copy_model(ref, out)
    if _is_main():  # the judge travels with the model: consumers render the prompt it was trained on
        write_judge_record(out, recipe.judge)
    if recipe.eval.compare_base and _is_main() and data.eval:
        matcher = matcher_from_config(recipe.reward.matcher) if recipe.reward.matcher.kind != "llm" else None
        results = compare_models(recipe, data.eval, {"base": base, "trained": out}, matcher)
        with open(os.path.join(out, "compare.json"), "w") as f:
            json.dump(results, f, indent=2)
        print(comparison_table(results))
    if _is_main():  # last: after every stage and eval, so no trainer's card replaces it
        write_model_card(recipe, out, data.path)
        print(f"checkpoint: {out}")
        print(f"recipe and plan: {out}/recipe.yaml, {out}/plan.json")
        print(f"logs: {out}/wandb (offline run)" if recipe.report_to == "wandb" else f"logs: {grpo_dir}")
    return 0


def dry_run(recipe: TrainRecipe) -> int:
    """Print the plan, GPU plan included; offline, data that cannot be built and a tokenizer
    that cannot be had leave their counts unknown. A GPU plan that does not fit is refused
    (RecipeError, exit 2) after it is printed."""
    data, data_error = None, ""
    try:
        data = dist.main_first(lambda: tdata.load_data(recipe))
    except DataError as e:  # e.g. hub datasets offline
        data_error = str(e).strip().split("\n")[0]
    warnings = preflight(recipe, data, strict=False)
    try:
        tokenizer = load_tokenizer(recipe)
    except (OSError, ValueError):  # a hub id offline
        tokenizer = None
    if tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        tokenizer = None  # a config-only model directory yields a tokenizer with no chat template
    plan = make_plan(recipe, data, tokenizer, data_error)
    print(plan.text())
    for w in warnings + plan.warnings:
        print(f"warning: {w}")
    if plan.gpu is not None:
        plan.gpu.check()
    print("dry run: no weights loaded, nothing written to output_dir")
    return 0


def _copy_model(src: str, dst: str) -> None:
    import shutil

    for name in os.listdir(src):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(dst, name))


__all__ = ["train", "RecipeError"]
