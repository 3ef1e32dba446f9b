"""Tiny randomly initialised causal LMs for fast tests (CPU or GPU, no download).

They use the embedded SmolLM2 tokenizer and chat template, so prompts, verdict
parsing and data collation behave as with the real model; only the weights are random.
"""

from __future__ import annotations

from typing import Any


def smollm2_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from genrm.assets import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("embedded:smollm2-135m"))


def tiny_causal_lm(tokenizer: Any, *, hidden_size: int = 64, layers: int = 2, seed: int = 0,
                   sharpen: float = 8.0, arch: str = "llama", **config: Any) -> Any:
    """A random Llama (or Mistral, `arch="mistral"`) in eval mode. `sharpen` scales the output
    layer so next-token distributions are peaked: greedy argmax then has no near-ties that
    float rounding across batch layouts could flip."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    cfg_cls, model_cls = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM)}[arch]
    cfg = cfg_cls(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=config.pop("max_position_embeddings", 1024), tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **config,
    )
    torch.manual_seed(seed)
    model = model_cls(cfg).eval()
    if sharpen != 1.0:
        with torch.no_grad():
            model.lm_head.weight.mul_(sharpen)
    return model
