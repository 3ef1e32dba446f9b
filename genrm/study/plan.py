"""The study's dry run: the grid and a time estimate from the measured CPU figures.

Figures (BRIEF section 7, SmolLM2-135M in float32 on 2 cores): SFT about 120 training
tokens/s (12 s per step of 8 x 180 tokens); a TRL GRPO step with 4 completions x 64
tokens about 13 s; batched greedy judging about 0.4 s per judgment. Our judge prompts
are about 420 tokens (the system prompt is most of them; 160 with `judge.template: compact`)
and SFT targets about 70, so
the estimate scales by tokens: a GRPO step costs generation (prefill at 3x the training
rate, then one decoding pass per completion token) plus a training pass over prompt and
completion; a judgment costs 0.8 s (twice the measured figure, for the longer prompts).
It is an estimate for a CPU run with these figures, not a measurement.
"""

from __future__ import annotations

import math
from typing import Any

from genrm.study.recipe import REWARD_OF, StudyRecipe

TRAIN_TOKENS_PER_S = 120.0
PREFILL_TOKENS_PER_S = 3 * TRAIN_TOKENS_PER_S
DECODE_S_PER_TOKEN = 0.08
JUDGE_S = 0.8
PROMPT_TOKENS = 420
COMPACT_PROMPT_TOKENS = 160  # judge.template=compact (the demo's SFT: ~243 tokens an example with its target)
TARGET_TOKENS = 70
RUN_OVERHEAD_S = 30.0  # loading models, the matcher and the trainer per run
PREP_S = 120.0  # data build, splits, first imports


def estimate(recipe: StudyRecipe) -> dict[str, Any]:
    """Seconds per part of the study on 2 CPU cores (see the module doc); None where a
    step count is not set (epochs depend on the data)."""
    e = recipe.eval
    orders = 2 if e.orders == "both" else 1
    judge_one = (e.records + 3 * e.bbq_items) * orders * JUDGE_S + RUN_OVERHEAD_S
    out: dict[str, Any] = {"prep": PREP_S, "base": judge_one if "base" in recipe.arms else 0.0}
    arms = recipe.trained_arms()
    per_seed = 0.0
    for arm in arms:
        t = recipe.train_recipe(arm, recipe.seeds[0], "<run>", "<splits>", "<sft>")
        prompt = COMPACT_PROMPT_TOKENS if t.judge.template == "compact" else PROMPT_TOKENS
        if arm == "sft":
            s = t.sft
            if s.max_steps < 0:
                return {**out, "total": None, "why": "sft.max_steps is not set"}
            per_step = s.per_device_train_batch_size * s.gradient_accumulation_steps
            train = s.max_steps * per_step * (prompt + TARGET_TOKENS) / TRAIN_TOKENS_PER_S
        else:
            g = t.grpo
            if g.max_steps < 0:
                return {**out, "total": None, "why": "grpo.max_steps is not set"}
            n = g.per_device_train_batch_size * g.gradient_accumulation_steps
            c = g.max_completion_length
            step = (n * prompt / PREFILL_TOKENS_PER_S + c * DECODE_S_PER_TOKEN
                    + n * (prompt + c) / TRAIN_TOKENS_PER_S)
            evals = math.ceil(g.max_steps / t.eval_steps) if t.eval_steps else 0
            train = g.max_steps * step + evals * t.eval.max_records * JUDGE_S
        measure = judge_one if arm in recipe.arms else 0.0
        out[arm] = round(train + measure + RUN_OVERHEAD_S, 1)
        per_seed += out[arm]
    out["per_seed"] = round(per_seed, 1)
    out["total"] = round(out["prep"] + out["base"] + per_seed * len(recipe.seeds), 1)
    return out


def plan_text(recipe: StudyRecipe, units: list[tuple[str, int]]) -> str:
    est = estimate(recipe)
    lines = [f"study {recipe.name}: {len(units)} arm/seed runs -> {recipe.output_path()}",
             f"  arms {', '.join(recipe.arms)}; seeds {recipe.seeds}; base model {recipe.model}"]
    for arm in recipe.trained_arms():
        what = "SFT warm start" if arm == "sft" else f"SFT warm start + GRPO, reward.kind={REWARD_OF[arm]}"
        lines.append(f"  {arm}: {what}" + ("" if arm in recipe.arms else " (trained as the warm start, not reported)"))
    lines.append(f"  held out: {recipe.eval.records} records, {recipe.eval.bbq_items} BBQ questions, "
                 f"orders {recipe.eval.orders}")
    if est["total"] is None:
        lines.append(f"  time estimate: unknown ({est['why']})")
    else:
        parts = ", ".join(f"{k} {v / 60:.1f} min" for k, v in est.items() if k not in ("total", "per_seed") and v)
        lines.append(f"  time estimate on 2 CPU cores: {est['total'] / 60:.0f} min ({parts}; per seed "
                     f"{est['per_seed'] / 60:.1f} min)")
    return "\n".join(lines)
