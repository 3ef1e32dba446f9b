"""The GPU memory plan of a training run, from the model config, the recipe and the launcher
alone (no weights, no data), and the MetaJudge load it puts on its server.

Per GPU, for each stage (SFT, GRPO): weights, gradients and optimizer state for the sharding
in use, the ZeRO-3/FSDP gathered layers, activations of one micro-batch at the longest padded
length, TRL's LM-head working set, the colocated vLLM budget, and a reserve. `GpuPlan.check`
refuses a plan that does not fit in one line naming the biggest term and the key that fixes it.
Formulas and assumptions are stated where they are used; the README shows one plan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


from genrm.config import RecipeError
from genrm.judge.prompts import render_metajudge_messages
from genrm.training.models import model_path
from genrm.training.recipe import TrainRecipe

GIB = 2**30
DEFAULT_GPU_GIB = 80.0
RESERVE_GIB, RESERVE_FRACTION = 2.0, 0.05  # CUDA context and NCCL buffers; allocator fragmentation
# vLLM's own working set inside its budget: the profile run at TRL's max_num_batched_tokens=4096,
# the sampler and CUDA graphs. An assumption, not measured here.
VLLM_OVERHEAD_GIB = 2.0
# TRL 1.16's fused LM head (trl/kernels/chunked_logprob.py) projects [4096 tokens x 32768 vocab] tiles.
TILE_TOKENS, TILE_VOCAB = 4096, 32768
# Aggregate decode rate of one H100 serving an 8-32B model in bf16 at a few hundred requests in
# flight: a deliberately low round figure (measure your server and set the key).
DEFAULT_TOKENS_PER_S = 2500.0
UNIT_TOKENS, HUMAN_UNITS, OUT_TOKENS_PER_PAIR = 40, 5, 8  # MetaJudge assumptions when the data is unknown
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class Launch:
    """What the launcher set up: processes, ZeRO stage or FSDP, offload."""

    world: int = 1
    sharding: str = "none"  # none | zero1 | zero2 | zero3 | fsdp
    offload_optimizer: bool = False
    offload_params: bool = False
    cpu: bool = False

    def label(self) -> str:
        off = [n for n, on in (("optimizer", self.offload_optimizer), ("parameters", self.offload_params)) if on]
        return f"{self.world} GPU(s), {self.sharding}" + (f", {' and '.join(off)} offloaded to CPU" if off else "")


def launch_from_env(env: Mapping[str, str] = os.environ) -> Launch:
    """The launch `accelerate launch` describes in the environment of each process."""
    on = lambda k: env.get(k, "").lower() in ("true", "1", "yes")  # noqa: E731
    la = Launch(world=max(1, int(env.get("WORLD_SIZE", "1"))), cpu=on("ACCELERATE_USE_CPU"))
    if on("ACCELERATE_USE_DEEPSPEED"):
        la.sharding = f"zero{env.get('ACCELERATE_DEEPSPEED_ZERO_STAGE', '2')}"
        la.offload_optimizer = env.get("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "none") not in ("none", "")
        la.offload_params = env.get("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "none") not in ("none", "")
    elif on("ACCELERATE_USE_FSDP"):
        strategy = env.get("FSDP_SHARDING_STRATEGY", "FULL_SHARD").upper()
        partial = strategy in ("2", "SHARD_GRAD_OP") or env.get("FSDP_RESHARD_AFTER_FORWARD", "true") == "false"
        la.sharding = "none" if strategy in ("3", "NO_SHARD") else "zero2" if partial else "fsdp"
        la.offload_params = la.offload_optimizer = on("FSDP_OFFLOAD_PARAMS")
    return la


@dataclass
class Shape:
    """The sizes the plan needs, read from a model config."""

    params: int
    layers: int
    hidden: int
    q_dim: int  # attention heads x head_dim
    kv_heads: int
    head_dim: int
    mlp: int  # MLP width a token passes through (dense intermediate, or experts_per_tok x expert width)
    moe_extra: int  # MoE: the token's hidden state copied to each of its experts
    vocab: int
    max_positions: int
    dtype: str
    lora_per_rank: int  # LoRA parameters per unit of r (all nn.Linear but the LM head)


def load_model_config(recipe: TrainRecipe) -> Any | None:
    """The model's config from its local directory or the hub; None when it cannot be had (offline)."""
    try:
        from transformers import AutoConfig  # torch: not for a recipe check or --help

        return AutoConfig.from_pretrained(model_path(recipe.model.ref), trust_remote_code=recipe.model.trust_remote_code)
    except (OSError, ValueError):
        return None


def model_shape(cfg: Any) -> Shape:
    import torch
    from transformers import AutoModelForCausalLM

    c = cfg.get_text_config()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    lora = sum(m.in_features + m.out_features for n, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and m is not model.get_output_embeddings())
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    experts, k = getattr(c, "num_experts", 0) or 0, getattr(c, "num_experts_per_tok", 0) or 0
    moe = experts > 0 and k > 0
    dtype = str(getattr(c, "dtype", None) or getattr(c, "torch_dtype", None) or "float32").replace("torch.", "")
    return Shape(params=sum(p.numel() for p in model.parameters()), layers=c.num_hidden_layers, hidden=c.hidden_size,
                 q_dim=c.num_attention_heads * head_dim, kv_heads=c.num_key_value_heads or c.num_attention_heads,
                 head_dim=head_dim, mlp=k * c.moe_intermediate_size if moe else c.intermediate_size,
                 moe_extra=k * c.hidden_size if moe else 0, vocab=c.vocab_size,
                 max_positions=getattr(c, "max_position_embeddings", 0) or 0, dtype=dtype, lora_per_rank=lora)


def layer_elements(s: Shape) -> int:
    """Elements one token keeps for backward in one decoder layer (no checkpointing), Qwen3-style:
    2 RMSNorms (input and output each: 4h); q and k before and after their norm and after RoPE,
    v, and the attention output (4 q_dim + 4 kv_dim); the SwiGLU gate, up, SiLU(gate) and their
    product (4 x MLP width); for MoE the input copied to each expert. Attention itself keeps
    O(tokens) with SDPA/flash kernels, so no tokens^2 term."""
    return 4 * s.hidden + 4 * s.q_dim + 4 * s.kv_heads * s.head_dim + 4 * s.mlp + s.moe_extra


@dataclass
class Term:
    name: str
    bytes: float
    note: str
    fix: str

    @property
    def gib(self) -> float:
        return self.bytes / GIB


@dataclass
class GpuPlan:
    gpu_gib: float
    source: str
    launch: Launch
    stages: dict[str, list[Term]] = field(default_factory=dict)
    lines: list[tuple[str, str]] = field(default_factory=list)
    refusal: Optional[str] = None
    warnings: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.refusal:
            raise RecipeError(self.refusal)


def gpu_memory_gib(recipe: TrainRecipe) -> tuple[float, str]:
    if recipe.gpu_memory_gib is not None:
        return float(recipe.gpu_memory_gib), "gpu_memory_gib"
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory / GIB, f"detected {torch.cuda.get_device_name(0)}"
    return DEFAULT_GPU_GIB, "no CUDA device here: the default"


def _state_terms(recipe: TrainRecipe, s: Shape, la: Launch) -> list[Term]:
    """Weights, gradients, optimizer state: DeepSpeed and FSDP keep 16-bit weights and gradients
    and fp32 master weights plus Adam moments (the ZeRO paper's 2 + 2 + 12 bytes a parameter);
    plain DDP trains in the weights' dtype (moments too). LoRA trains only its fp32 adapters."""
    mixed = recipe.precision in ("bf16", "fp16")
    sharded_engine = la.sharding != "none"
    wb = 0.5625 if recipe.lora.load_in_4bit else 2 if (mixed and sharded_engine) else DTYPE_BYTES.get(
        recipe.model.dtype if recipe.model.dtype != "auto" else s.dtype, 4)
    lora = recipe.lora.enabled
    trainable = s.lora_per_rank * recipe.lora.r if lora else s.params
    gb = 4 if lora else 2 if (mixed and sharded_engine) else wb
    sb = 4 if (lora or sharded_engine) else wb  # optimizer state dtype
    moments = {"adafactor": 0.0, "adamw_bnb_8bit": 2.0, "paged_adamw_8bit": 2.0}.get(recipe.optim, 2 * sb)
    master = 4 if (mixed and sharded_engine and not lora) else 0
    world, shard = la.world, la.sharding
    w_div = world if shard in ("zero3", "fsdp") else 1
    g_div = world if shard in ("zero2", "zero3", "fsdp") else 1
    o_div = world if shard in ("zero1", "zero2", "zero3", "fsdp") else 1
    shard_fix = "launch with accelerate_configs/deepspeed_zero3.yaml on more GPUs, or set lora.enabled=true"
    terms = [Term("weights", 0 if la.offload_params else s.params * wb / w_div,
                  f"{s.params / 1e9:.2f}B x {wb:g} B" + (f" / {w_div}" if w_div > 1 else ""), shard_fix),
             Term("gradients", trainable * gb / g_div, f"{trainable / 1e9:.2f}B trainable x {gb:g} B"
                  + (f" / {g_div}" if g_div > 1 else ""), shard_fix),
             Term("optimizer", 0 if la.offload_optimizer else trainable * (moments + master) / o_div,
                  f"{recipe.optim}: {moments:g} B moments + {master:g} B master a parameter"
                  + (f" / {o_div}" if o_div > 1 else ""), shard_fix + ", or optim=adafactor")]
    if shard in ("zero3", "fsdp"):
        cb = 2 if mixed else wb
        terms.append(Term("gathered", (2 * s.params / s.layers + s.vocab * s.hidden) * cb,
                          "ZeRO-3/FSDP: two decoder layers (current + prefetched) and the LM head, unsharded",
                          shard_fix))
    return terms


def _step_terms(recipe: TrainRecipe, s: Shape, batch: int, tokens: int, scored: int, key: str) -> list[Term]:
    ab = 2 if recipe.precision in ("bf16", "fp16") or recipe.model.dtype in ("bfloat16", "float16") else 4
    bt = batch * tokens
    full = s.layers * bt * layer_elements(s) * ab
    if recipe.gradient_checkpointing:
        act = Term("activations", s.layers * bt * s.hidden * ab + bt * layer_elements(s) * ab,
                   f"checkpointed: {s.layers} layers x {batch} x {tokens} tokens x {s.hidden} x {ab} B, "
                   f"+ one layer recomputed ({layer_elements(s)} values a token)",
                   f"lower {key}.per_device_train_batch_size (raise {key}.gradient_accumulation_steps to keep the batch)")
    else:
        act = Term("activations", full, f"not checkpointed: {s.layers} layers x {batch} x {tokens} tokens x "
                   f"{layer_elements(s)} values x {ab} B", "set gradient_checkpointing=true")
    # TRL's fused LM head never builds [tokens x vocab] logits: a bf16 tile, its fp32 copy, and fp32
    # gradients of the scored hidden states and (when it trains) of the head weight.
    head_grad = 0 if recipe.lora.enabled else s.vocab * s.hidden * 4
    tile = min(batch * scored, TILE_TOKENS) * TILE_VOCAB * (ab + 4)
    logits = Term("logits", tile + batch * scored * s.hidden * 4 + head_grad,
                  f"fused LM head: {TILE_TOKENS}x{TILE_VOCAB} tile, fp32 grads of {batch * scored} scored tokens"
                  + (" and of the head" if head_grad else ""), f"lower {key}.per_device_train_batch_size")
    return [act, logits]


def _vllm(recipe: TrainRecipe, s: Shape, plan: GpuPlan) -> Optional[Term]:
    if not (recipe.grpo.enabled and recipe.use_vllm):
        return None
    if recipe.vllm_mode == "server":
        plan.lines.append(("gpu vllm", "server mode: the engine runs on its own GPUs, not in this plan"))
        return None
    util, tp = recipe.vllm_gpu_memory_utilization, recipe.vllm_tensor_parallel_size
    budget = util * plan.gpu_gib * GIB
    wb = DTYPE_BYTES.get(recipe.model.dtype if recipe.model.dtype != "auto" else s.dtype, 2)
    per_tok = lambda t: 2 * s.layers * max(1, s.kv_heads // t) * s.head_dim * wb  # noqa: E731 - K and V, this GPU's heads
    kv_left = lambda t: budget - s.params * wb / t - VLLM_OVERHEAD_GIB * GIB  # noqa: E731
    weights, per_token, kv = s.params * wb / tp, per_tok(tp), kv_left(tp)
    length = recipe.vllm_max_model_length or s.max_positions
    g = recipe.grpo
    seq = g.max_prompt_length + g.max_completion_length
    where = f"vllm_gpu_memory_utilization={util:g} x {plan.gpu_gib:g} GiB = {budget / GIB:.1f} GiB"
    plan.lines.append(("gpu vllm", f"colocate, {where}: weights {weights / GIB:.1f} GiB (tensor parallel {tp}), "
                       f"own working set {VLLM_OVERHEAD_GIB:g} GiB, KV cache {max(kv, 0) / GIB:.1f} GiB "
                       f"at {per_token / 1024:g} KiB a token"))
    if kv > 0:
        plan.lines.append(("gpu vllm kv", f"{kv / per_token:,.0f} tokens: {kv / per_token / seq:.1f} sequences of "
                           f"{seq} (prompt + completion); one of vllm_max_model_length={length} needs "
                           f"{length * per_token / GIB:.2f} GiB"))
    need = length * per_token
    if kv < need and plan.refusal is None:
        tp_fit = next((t for t in (2, 4, 8) if tp < t <= plan.launch.world and kv_left(t) >= length * per_tok(t)), None)
        fixes = [f"vllm_max_model_length={seq}" if length > seq else None,
                 f"vllm_tensor_parallel_size={tp_fit}" if tp_fit else None,
                 "a higher vllm_gpu_memory_utilization", "or vllm_mode=server"]
        left = f"leave {kv / GIB:.1f} GiB of KV cache" if kv > 0 else f"exceed it by {-kv / GIB:.1f} GiB"
        plan.refusal = (f"GPU plan: vLLM colocate does not fit: {where}; its weights ({weights / GIB:.1f} GiB at "
                        f"vllm_tensor_parallel_size={tp}) and working set {left}, less than one "
                        f"vllm_max_model_length={length} sequence needs ({need / GIB:.2f} GiB); set "
                        + ", ".join(f for f in fixes if f))
    return Term("vllm", budget, where + (" (asleep while training)" if recipe.vllm_enable_sleep_mode else ""),
                "lower vllm_gpu_memory_utilization, set vllm_enable_sleep_mode=true, or vllm_mode=server")


def _fit(plan: GpuPlan, stage: str, state: list[Term], step: list[Term], vllm: Optional[Term], sleep: bool) -> None:
    reserve = Term("reserve", (RESERVE_GIB + RESERVE_FRACTION * plan.gpu_gib) * GIB,
                   f"CUDA context, NCCL, fragmentation: {RESERVE_GIB:g} GiB + {RESERVE_FRACTION:.0%}", "")
    terms = state + step + ([vllm] if vllm else []) + [reserve]
    plan.stages[stage] = terms
    # Sleep mode frees the engine while training steps run: the two take turns.
    busy = max(sum(t.bytes for t in step), vllm.bytes) if (vllm and sleep) else sum(t.bytes for t in step + ([vllm] if vllm else []))
    total = sum(t.bytes for t in state) + busy + reserve.bytes
    for t in terms:
        plan.lines.append((f"gpu {stage} {t.name}", f"{t.gib:6.1f} GiB  {t.note}"))
    head = plan.gpu_gib * GIB - total
    plan.lines.append((f"gpu {stage} headroom", f"{head / GIB:6.1f} GiB  of {plan.gpu_gib:g} GiB per GPU ({plan.source})"))
    if head < 0 and plan.refusal is None:
        big = max((t for t in terms if t.fix), key=lambda t: t.bytes)
        plan.refusal = (f"GPU plan: {stage} needs {total / GIB:.1f} GiB per GPU of {plan.gpu_gib:g} "
                        f"({plan.launch.label()}); the biggest term is {big.name} ({big.gib:.1f} GiB): {big.fix}")


def gpu_plan(recipe: TrainRecipe, shape: Shape, launch: Launch, gpu_gib: float, source: str) -> GpuPlan:
    plan = GpuPlan(gpu_gib=gpu_gib, source=source, launch=launch)
    plan.lines.append(("gpu launch", f"{launch.label()}, {gpu_gib:g} GiB each ({source})"))
    state = _state_terms(recipe, shape, launch)
    if recipe.sft.enabled:
        s = recipe.sft
        _fit(plan, "sft", state, _step_terms(recipe, shape, s.per_device_train_batch_size, s.max_length,
                                             s.max_length, "sft"), None, False)
    if recipe.grpo.enabled:
        g = recipe.grpo
        vllm = _vllm(recipe, shape, plan)
        step = _step_terms(recipe, shape, g.per_device_train_batch_size, g.max_prompt_length + g.max_completion_length,
                           g.max_completion_length, "grpo")
        _fit(plan, "grpo", state, step, vllm, recipe.vllm_enable_sleep_mode)
    return plan


def metajudge_load(recipe: TrainRecipe, generation_batch: int, world: int,
                   human_units: Optional[float] = None) -> tuple[list[tuple[str, str]], list[str]]:
    """Plan lines and warnings for the MetaJudge an `llm` matcher calls: one request per completion
    whose record has human units (with match_wrong_verdicts=false, only right verdicts: up to)."""
    m, r = recipe.reward.matcher, recipe.reward
    if not (recipe.grpo.enabled and r.kind != "outcome" and m.kind == "llm"):
        return [], []
    b = dict(m.backend or {})
    rate = b.get("expected_tokens_per_s", DEFAULT_TOKENS_PER_S)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        raise RecipeError(f"reward.matcher.backend.expected_tokens_per_s must be a positive number, got {rate!r}")
    known = human_units is not None
    h = human_units if known else HUMAN_UNITS
    k = r.max_model_units
    prompt_chars = sum(len(x["content"]) for x in render_metajudge_messages(["x"] * round(max(h, 1)), ["x"] * k))
    prompt = prompt_chars / 4 + (h + k) * UNIT_TOKENS  # about 4 characters a token
    out = OUT_TOKENS_PER_PAIR * h * k
    inflight = int(b.get("concurrency", 8)) * world
    timeout = float(b.get("timeout", 60.0))
    latency = out * min(inflight, generation_batch) / rate  # the server's decode rate shared by all in flight
    lines = [("metajudge", f"up to {generation_batch} requests a generation batch, {inflight} in flight "
              f"({b.get('concurrency', 8)} x {world} processes); human units a record: "
              + (f"{h:.1f} (from the data)" if known else f"unknown offline, {HUMAN_UNITS} assumed")),
             ("metajudge tokens", f"about {prompt:,.0f} prompt + {out:,.0f} output tokens a request "
              f"({UNIT_TOKENS} tokens a unit, {OUT_TOKENS_PER_PAIR} a scored pair, assumed)"),
             ("metajudge time", f"{generation_batch * out / rate:,.0f} s of decoding a generation batch at "
              f"reward.matcher.backend.expected_tokens_per_s={rate:g}; about {latency:.0f} s a request "
              f"against timeout={timeout:g} s")]
    warns = [f"MetaJudge requests may take about {latency:.0f} s, over reward.matcher.backend.timeout={timeout:g}: "
             f"raise the timeout or lower reward.matcher.backend.concurrency"] if latency > timeout else []
    return lines, warns


def plan_for(recipe: TrainRecipe, env: Mapping[str, str] = os.environ) -> tuple[Optional[GpuPlan], str]:
    """The GPU plan of this recipe under this launch, or None and why it was skipped."""
    launch = launch_from_env(env)
    if launch.cpu:
        return None, "CPU launch (use_cpu): GPU plan skipped"
    cfg = load_model_config(recipe)
    if cfg is None:
        return None, "model config unavailable offline: plan skipped"
    gib, source = gpu_memory_gib(recipe)
    return gpu_plan(recipe, model_shape(cfg), launch, gib, source), ""


__all__ = ["GpuPlan", "Launch", "Shape", "gpu_plan", "launch_from_env", "metajudge_load",
           "model_shape", "plan_for", "layer_elements"]
