"""The model card (`README.md`) a training run leaves in its output directory.

TRL's trainers write their own card into each stage directory at every checkpoint (it
names the base model only for a hub id, hence "fine-tuned version of [None]" for a local
path). Ours is written last, by `train()`, into the output directory, which is the final
model: the base model, the data and its fingerprint, the reward, the judge template and
verdict format, the evaluation figures when an eval ran, and how to load it as a judge.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Optional

from genrm.judge.config import JUDGE_FILE, judge_record, read_judge_record
from genrm.training.recipe import TrainRecipe

CARD = "README.md"


def data_fingerprint(path: str, splits: tuple[str, ...]) -> Optional[str]:
    """sha256 (16 hex digits) of the split files as trained on; None when none is there."""
    h, seen = hashlib.sha256(), False
    for split in splits:
        f = os.path.join(path, f"{split}.jsonl")
        if os.path.isfile(f):
            seen = True
            h.update(split.encode() + b"\0")
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16] if seen else None


def _read_json(path: str) -> Any:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


_NEEDS_VERDICTS = ("accuracy", "rationale_consistency")


def _figure(summary: dict, key: str) -> str:
    """A figure of an eval summary; "-" for a missing one, and for accuracy-like figures when
    no verdict could be read (a 0.000 there would read as a result)."""
    v = summary.get(key)
    if key in _NEEDS_VERDICTS and (summary.get("parse_failure_rate") or 0) >= 1:
        return "- (no readable verdict)"
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _eval_section(out: str) -> list[str]:
    """Eval-step history (last step) and the base-vs-trained comparison, as fractions."""
    lines: list[str] = []
    keys = (("accuracy", "outcome accuracy"), ("parse_failure_rate", "parse-failure rate"),
            ("rationale_consistency", "rationale consistency (top-5)"), ("items", "items"))
    compare = _read_json(os.path.join(out, "compare.json"))
    if isinstance(compare, dict) and compare:
        names = list(compare)
        lines += ["Base vs trained on the eval split (`compare.json`, fractions):", "",
                  "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        lines += [f"| {label} | " + " | ".join(_figure(compare[n], k) for n in names) + " |" for k, label in keys]
        lines.append("")
    history = _read_json(os.path.join(out, "eval_history.json"))
    if isinstance(history, list) and history:
        last = history[-1]
        lines += [f"Eval steps (`eval_history.json`, {len(history)} evaluation(s)); at step {last.get('step')}: "
                  + ", ".join(f"{label} {_figure(last, k)}" for k, label in keys if k in last) + ".", ""]
    return lines or ["No evaluation ran during training (`eval_steps=0`, no `eval.compare_base`). "
                     "Evaluate it with the command below.", ""]


def model_card(recipe: TrainRecipe, out: str, data_path: Optional[str]) -> str:
    judge = read_judge_record(out) or judge_record(recipe.judge)
    d, r = recipe.data, recipe.reward
    fp = data_fingerprint(data_path, (d.train_split, d.eval_split)) if data_path else None
    stages = [s for s, on in (("SFT warm start", recipe.sft.enabled), ("GRPO", recipe.grpo.enabled)) if on]
    template = judge.get("template_name") or judge.get("template") or "built-in"
    reward = r.kind + (f" (weights {r.weights})" if r.kind == "weighted" else "")
    lines = [
        "---", "library_name: transformers", f"base_model: {recipe.model.ref}", "tags: [genrm, reward-model, judge]",
        "---", "", f"# {recipe.name}", "",
        f"A generative reward model (GenRM judge) fine-tuned from `{recipe.model.ref}` "
        f"({' then '.join(stages) or 'no training stage'}{', LoRA r=%d' % recipe.lora.r if recipe.lora.enabled else ''}).",
        "", "## Training", "",
        f"- base model: `{recipe.model.ref}`",
        f"- data: `{data_path or d.build}` (splits {d.train_split}/{d.eval_split}; "
        f"fingerprint sha256:{fp or 'unknown'}){f'; built from `{d.build}`' if d.build else ''}",
        f"- reward: {reward}, outcome scale {r.outcome_scale}, matcher {r.matcher.kind}",
        f"- seed {recipe.seed}; the resolved recipe is `recipe.yaml`, the plan `plan.json`",
        "", "## Judge", "",
        f"- style: {judge['style']}; template: {template} (recorded in `{JUDGE_FILE}`)",
        f"- verdict format: {judge.get('verdict_format')}",
        "- every consumer of this directory renders this template unless its own `judge.style`/`judge.template` "
        "is set", "", "## Evaluation", "", *_eval_section(out),
        "## Use as a judge", "", "```bash",
        f"python evaluate/run.py models=[{out}]",
        f"genrm serve judge.backend.model={out}",
        "```", "",
    ]
    return "\n".join(lines)


def write_model_card(recipe: TrainRecipe, out: str, data_path: Optional[str]) -> str:
    """Our card in `out`; TRL's stage-directory cards (which name no base model) point to it."""
    path = os.path.join(out, CARD)
    with open(path, "w", encoding="utf-8") as f:
        f.write(model_card(recipe, out, data_path))
    for stage in ("sft", "grpo"):
        stage_card = os.path.join(out, stage, CARD)
        if os.path.isfile(stage_card):
            with open(stage_card, "w", encoding="utf-8") as f:
                f.write(f"# {recipe.name}: {stage} stage\n\nCheckpoints of a GenRM training run from "
                        f"`{recipe.model.ref}`; the model card of the result is `../{CARD}`.\n")
    return path


__all__ = ["model_card", "write_model_card", "data_fingerprint"]
