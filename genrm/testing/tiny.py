"""Tiny randomly initialised causal LMs for fast tests (CPU or GPU, no download).

They use the embedded SmolLM2 tokenizer and chat template, so prompts, verdict
parsing and data collation behave as with the real model; only the weights are random.
"""

from __future__ import annotations

from typing import Any
from genrm.assets import resolve_model


def smollm2_tokenizer() -> Any:
    from transformers import AutoTokenizer

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


def save_tiny_model(path: str, tokenizer: Any, *, arch: str = "llama", seed: int = 0, **config: Any) -> str:
    """A tiny random model plus the tokenizer saved as a model directory (a local model
    reference for trainers and backends). `arch="qwen3"` gives the Qwen3 architecture."""
    if arch == "qwen3":
        import torch
        from transformers import Qwen3Config, Qwen3ForCausalLM

        shape = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
                 "head_dim": 16, "max_position_embeddings": 2048, "num_hidden_layers": config.pop("layers", 2)}
        cfg = Qwen3Config(
            vocab_size=len(tokenizer), tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **{**shape, **config},
        )
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(cfg)
    else:
        model = tiny_causal_lm(tokenizer, arch=arch, seed=seed, sharpen=1.0,
                               max_position_embeddings=config.pop("max_position_embeddings", 2048), **config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
