"""Which trainer checkpoint a resume continues from.

transformers' `get_last_checkpoint` takes the highest `checkpoint-N`, complete or not: a
kill while N was being written leaves a directory every later resume fails on. The
Trainer writes `trainer_state.json` last (after weights, optimizer, scheduler and RNG
state), so a checkpoint is complete when that file parses and names step N. A torn one
is skipped with a warning (the trainer writes step N again when it gets there); a
complete one whose weights are gone is refused in one line, since going back silently
would lose the user's progress.
"""

from __future__ import annotations

import json
import logging
import os
import re

from genrm.config import RecipeError

log = logging.getLogger(__name__)
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
# Weights of a plain, LoRA, sharded, DeepSpeed or FSDP save.
_WEIGHTS = re.compile(r"(model|adapter_model|pytorch_model)(-\d+-of-\d+)?\.(safetensors|bin)|"
                      r"model\.safetensors\.index\.json|global_step\d+|pytorch_model_fsdp_\d+(\.bin)?")


def torn_reason(path: str, step: int) -> str | None:
    """Why checkpoint `path` (for `step`) is incomplete, or None when its save finished."""
    state = os.path.join(path, "trainer_state.json")
    try:
        with open(state, encoding="utf-8") as f:
            got = json.load(f).get("global_step")
    except FileNotFoundError:
        return "no trainer_state.json (the Trainer writes it last)"
    except (OSError, ValueError, AttributeError) as e:
        return f"trainer_state.json is torn ({type(e).__name__})"
    if got != step:
        return f"trainer_state.json says step {got}, not {step}"
    return None


def last_complete_checkpoint(stage_dir: str) -> str | None:
    """The newest complete `checkpoint-N` under `stage_dir`, None when there is none."""
    if not os.path.isdir(stage_dir):
        return None
    found = sorted(((int(m.group(1)), name) for name in os.listdir(stage_dir)
                    if (m := _CHECKPOINT.fullmatch(name)) and os.path.isdir(os.path.join(stage_dir, name))),
                   reverse=True)
    for step, name in found:
        path = os.path.join(stage_dir, name)
        why = torn_reason(path, step)
        if why is not None:
            log.warning("%s: skipped, its save did not finish (%s); resuming from an earlier checkpoint", path, why)
            continue
        if not any(_WEIGHTS.fullmatch(f) for f in os.listdir(path)):
            raise RecipeError(f"{path} is a finished checkpoint without its model weights (model.safetensors or "
                              "adapter_model.safetensors): restore them, or move that directory away to resume "
                              "from the one before")
        return path
    return None
