"""The model to train (its path, how TRL loads it), its tokenizer, LoRA settings, and the final checkpoint."""

from __future__ import annotations

import os
from typing import Any

from genrm.assets import resolve_model
from genrm.training.recipe import TrainRecipe

def model_path(ref: str) -> str:
    return resolve_model(ref)


def load_tokenizer(recipe: TrainRecipe, ref: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path(ref or recipe.model.ref), trust_remote_code=recipe.model.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def model_init_kwargs(recipe: TrainRecipe) -> dict[str, Any]:
    """How TRL loads the model from its path (TRL loads string models in float32 otherwise)."""
    kw: dict[str, Any] = {"dtype": recipe.model.dtype, "trust_remote_code": recipe.model.trust_remote_code}
    if recipe.model.attn_implementation:
        kw["attn_implementation"] = recipe.model.attn_implementation
    if recipe.lora.load_in_4bit:  # QLoRA
        import torch
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    return kw


def peft_config(recipe: TrainRecipe) -> Any:
    if not recipe.lora.enabled:
        return None
    from peft import LoraConfig

    lc = recipe.lora
    return LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=lc.target_modules,
                      task_type="CAUSAL_LM")


def merge_adapter(adapter_dir: str, out_dir: str, recipe: TrainRecipe) -> None:
    """The saved LoRA adapter merged into its base (adapter_config.json names it) on CPU, as a
    full model in `out_dir`. Done from the saved files, not the live model: under ZeRO-3 or
    FSDP every rank holds only its shard, and merging there would write partitions."""
    import transformers.integrations.deepspeed as hf_ds
    from peft import AutoPeftModelForCausalLM

    # One process loads here: outside ZeRO-3's partitioned init, whose collectives would wait
    # for the other ranks (transformers reads the trainer's DeepSpeed config from a global).
    ref = getattr(hf_ds, "_hf_deepspeed_config_weak_ref", None)
    ds_config = ref() if ref is not None else None
    hf_ds.unset_hf_deepspeed_config()
    try:
        model = AutoPeftModelForCausalLM.from_pretrained(adapter_dir, dtype=recipe.model.dtype,
                                                         trust_remote_code=recipe.model.trust_remote_code)
        model.merge_and_unload().save_pretrained(out_dir)
    finally:
        if ds_config is not None:
            hf_ds.set_hf_deepspeed_config(ds_config)


def save_final(trainer: Any, recipe: TrainRecipe, out_dir: str) -> None:
    """The final checkpoint at `out_dir`, the one model reference for every backend: a full
    model, or a LoRA adapter; with `merge=true` the merged full model, and the adapter
    in `out_dir/adapter`. Every rank calls it (the save gathers shards)."""
    lora_merge = recipe.lora.enabled and recipe.merge
    adapter = os.path.join(out_dir, "adapter")
    trainer.save_model(adapter if lora_merge else out_dir)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(out_dir)
        if lora_merge:
            merge_adapter(adapter, out_dir, recipe)
    trainer.accelerator.wait_for_everyone()
