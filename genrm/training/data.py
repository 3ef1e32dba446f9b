"""Training data: built records -> the SFT warm-start set and the GRPO prompt set.

The GRPO prompt is the rendered judge prompt (the pair in the record's A/B placement),
never the record's `prompt` column alone. Its rows also carry what the rewards read:
`label`, `rationale_units` (side-neutral, see genrm.data.sides), `chosen_position`, `chosen`,
`rejected` and `record_id`.

The SFT target is the record's rationale units as a numbered list, most important
first, then the verdict for the record's placement in the judge's style
(`genrm.judge.verdict.render_verdict`, so the parser reads what SFT teaches); the judge
prompt is the `prompt` and the target the `completion`, so TRL puts the loss on the
assistant turn only.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Sequence

from genrm.config import RecipeError, load_recipe, to_dict
from genrm.data.build import build
from genrm.data.recipe import BuildRecipe
from genrm.data.record import PreferenceRecord, read_jsonl
from genrm.data.sides import render_units
from genrm.evaluation.judging import judge_messages
from genrm.judge.prompts import NAMED_TEMPLATES
from genrm.judge.verdict import STYLES, render_verdict
from genrm.training.recipe import TrainRecipe


@dataclass
class TrainData:
    train: list[PreferenceRecord]
    eval: list[PreferenceRecord]
    path: str


def judge_style(recipe: TrainRecipe) -> tuple[str, str | None]:
    """(verdict style, template or None) of the recipe's `judge` section. The trainer takes a
    built-in template's name (`compact`) or a template file (`judge.template: answer-tag`, a
    style name, means that style)."""
    style, t = recipe.judge.style, recipe.judge.template
    if t is not None and t not in NAMED_TEMPLATES and not os.path.isfile(t):
        names = ", ".join(repr(n) for n in (*STYLES, *NAMED_TEMPLATES))
        raise RecipeError(f"judge.template {t!r} is neither one of {names} nor an existing template file")
    return style, t


def _read_split(path: str, split: str, key: str) -> list[PreferenceRecord]:
    f = os.path.join(path, f"{split}.jsonl")
    if not os.path.isfile(f):
        have = sorted(n[:-6] for n in os.listdir(path) if n.endswith(".jsonl")) if os.path.isdir(path) else []
        raise RecipeError(f"{key}: split '{split}' not found in {path} (no {split}.jsonl; splits there: {have or 'none'})")
    return list(read_jsonl(f))


def load_data(recipe: TrainRecipe) -> TrainData:
    """The built dataset the recipe names (building it first for `data.build`)."""
    d = recipe.data
    path = d.path
    if d.build is not None:
        built = load_recipe([f"recipe={d.build}"], BuildRecipe)
        path = built.output_dir.replace("${name}", built.name)
        if not os.path.isfile(os.path.join(path, "train.jsonl")):
            build(to_dict(built))
    assert path is not None
    if not os.path.isdir(path):
        raise RecipeError(
            f"data.path: dataset directory {path} does not exist "
            "(build it with `python data_prep/build.py recipe=...`, or set data.build=<data recipe>)"
        )
    train = _read_split(path, d.train_split, "data.train_split")
    evals = _read_split(path, d.eval_split, "data.eval_split") if d.eval_split else []
    if d.label_kinds is not None:
        train = [r for r in train if r.label_kind in d.label_kinds]
        evals = [r for r in evals if r.label_kind in d.label_kinds]
    if d.max_train_records is not None:
        train = train[: d.max_train_records]
    if d.max_eval_records is not None:
        evals = evals[: d.max_eval_records]
    if not train:
        raise RecipeError(f"data.path: {path}/{d.train_split}.jsonl has no records")
    return TrainData(train, evals, path)


def needs_units(recipe: TrainRecipe) -> bool:
    return recipe.grpo.enabled and recipe.reward.kind in ("hybrid", "rationale", "weighted")


def check_units(recipe: TrainRecipe, records: Sequence[PreferenceRecord]) -> None:
    """The rationale rewards need human units: fail early with the count."""
    if not needs_units(recipe):
        return
    missing = sum(1 for r in records if not r.rationale_units)
    if missing == len(records):
        raise RecipeError(
            f"reward.kind={recipe.reward.kind} needs rationale units, but none of the {len(records)} training records "
            "has any (the build's data card, stats.md, says why: a source without rationale text; the generic "
            "source reads its rationale column from sources.N.options.rationale_field), or set reward.kind=outcome"
        )
    if missing:
        print(f"note: {missing} of {len(records)} training records have no rationale units; their reward is None "
              "(no advantage), never 0")


def placements(records: Sequence[PreferenceRecord], both_orders: bool) -> list[PreferenceRecord]:
    """The records as placed, or (both_orders) each followed by its copy with the chosen
    response on the other side: the copy's label, verdict and rendered units follow."""
    if not both_orders:
        return list(records)
    out = []
    for r in records:
        other = "B" if r.chosen_position == "A" else "A"
        out += [r, dataclasses.replace(r, chosen_position=other)]
    return out


def decision_reason(record: PreferenceRecord) -> str:
    """A last reason that ties the decision to a side, the content first: the chosen
    response quoted (its first words when long), then its position. A small judge picks
    the right text long before it can name the side; quoting first lets the verdict follow."""
    words = str(record.chosen).split()
    quote = " ".join(words) if len(words) <= 30 else " ".join(words[:12]) + " ..."
    return f'So "{quote}" (Response {record.chosen_position}) is the better response.'


def sft_target(record: PreferenceRecord, style: str = "rationale", max_units: int | None = None,
               decision: bool = False) -> str | None:
    """Numbered human units, most important first (the first `max_units`), then (`decision`)
    `decision_reason`, then the verdict for the record's placement."""
    units = render_units(record.rationale_units, record.chosen_position)[:max_units]
    if not units:
        return None
    if decision:
        units.append(decision_reason(record))
    reasons = "\n".join(f"{i}. {u}" for i, u in enumerate(units, 1))
    return f"{reasons}\n\n{render_verdict(record.label, style)}"


def sft_rows(records: Sequence[PreferenceRecord], recipe: TrainRecipe) -> list[dict[str, Any]]:
    style, template = judge_style(recipe)
    rows = []
    for r in placements(records, recipe.sft.both_orders):
        target = sft_target(r, style, recipe.sft.max_units, recipe.sft.decision_reason)
        if target is None:
            continue
        rows.append({"prompt": judge_messages(r, r.chosen_position, style, template),
                     "completion": [{"role": "assistant", "content": target}], "record_id": r.id})
    if recipe.sft.max_records is not None:
        rows = rows[: recipe.sft.max_records]
    return rows


def grpo_rows(records: Sequence[PreferenceRecord], recipe: TrainRecipe) -> list[dict[str, Any]]:
    style, template = judge_style(recipe)
    return [
        {
            "prompt": judge_messages(r, r.chosen_position, style, template),
            "label": r.label,
            "rationale_units": list(r.rationale_units),
            "chosen_position": r.chosen_position,
            "chosen": r.chosen,  # the rewards' pasted-text and quoted-answer checks read them
            "rejected": r.rejected,
            "record_id": r.id,
        }
        for r in placements(records, recipe.grpo.both_orders)
    ]


def prompt_lengths(rows: Sequence[dict], tokenizer) -> list[int]:
    """Token count of each row's rendered prompt (chat template and generation prompt)."""
    texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def fit_prompts(rows: list[dict], tokenizer, max_prompt_length: int) -> tuple[list[dict], int, list[int]]:
    """Rows whose prompt fits `max_prompt_length` tokens (TRL does not cut GRPO prompts),
    the number left out, and the kept lengths."""
    lengths = prompt_lengths(rows, tokenizer)
    kept = [(r, n) for r, n in zip(rows, lengths) if n <= max_prompt_length]
    return [r for r, _ in kept], len(rows) - len(kept), [n for _, n in kept]
