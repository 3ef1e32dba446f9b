"""Checks and the plan of a training run, all before any weights load.

`preflight` fails in one line, naming the key and the fix, for: a missing dataset,
records without units when the reward needs them, a `num_generations` that does not
divide the generation batch, `use_vllm` without vLLM, an `llm` matcher URL that does
not answer or does not list the matcher's model at `/models`. `make_plan` computes the
batch arithmetic and token estimates that `dry_run=true` prints, with the GPU memory plan
and the MetaJudge load (genrm.training.gpu_plan); without the data or a tokenizer (a dry
run offline) the counts they give are printed as unknown.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from genrm.assets import ModelNotFoundError, check_local_model
from genrm.backends.endpoint import redact_url
from genrm.config import RecipeError, recipe_yaml
from genrm.training import data as tdata
from genrm.training import gpu_plan as gp
from genrm.training.recipe import TrainRecipe


def world_size() -> int:
    """Processes of this launch (accelerate/torchrun set WORLD_SIZE; one otherwise)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def launcher() -> dict[str, Any]:
    env = os.environ
    kind = ("deepspeed" if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
            else "fsdp" if env.get("ACCELERATE_USE_FSDP", "").lower() == "true"
            else "multi-process" if world_size() > 1 else "single process")
    return {"world_size": world_size(), "distributed": kind,
            "mixed_precision": env.get("ACCELERATE_MIXED_PRECISION", "no"),
            "zero_stage": env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")}


def zero_stage() -> int | None:
    """The DeepSpeed ZeRO stage of this launch, as accelerate passes it to each process:
    ACCELERATE_DEEPSPEED_ZERO_STAGE, or the stage in ACCELERATE_DEEPSPEED_CONFIG_FILE
    (`--deepspeed_config_file`); None when DeepSpeed is not in use."""
    env = os.environ
    if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true":
        return None
    if env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE"):
        return int(env["ACCELERATE_DEEPSPEED_ZERO_STAGE"])
    path = env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "none")
    if path != "none" and os.path.isfile(path):
        with open(path) as f:
            stage = json.load(f).get("zero_optimization", {}).get("stage")
        return stage if isinstance(stage, int) else None
    return None


def check_launch(recipe: TrainRecipe) -> None:
    """Settings that only the launch makes wrong."""
    if recipe.eval_steps and recipe.grpo.enabled and zero_stage() == 3:
        # Eval steps decode greedily with the trained model: ranks stop at different lengths,
        # their ZeRO-3 all-gathers stop pairing up, and the job hangs until the NCCL timeout.
        # One process would not hang, but refusing it too keeps a test run like the real one.
        raise RecipeError(f"eval_steps={recipe.eval_steps} cannot run under DeepSpeed ZeRO-3 (ranks decode "
                          "different lengths over sharded weights and hang); set eval_steps=0 and evaluate "
                          "the saved model afterwards (evaluate/run.py, e.g. recipes/eval/paper_heldout.yaml)")
    env = os.environ
    sd = env.get("FSDP_STATE_DICT_TYPE", "SHARDED_STATE_DICT")  # accelerate's own default
    if env.get("ACCELERATE_USE_FSDP", "").lower() == "true" and sd != "FULL_STATE_DICT":
        # transformers' save_model writes weights under FSDP for FULL_STATE_DICT only: the
        # SFT stage's output would have none, and GRPO could not load its warm start
        raise RecipeError(f"FSDP with fsdp_state_dict_type={sd} saves no model weights (transformers writes them "
                          "for FULL_STATE_DICT only); set fsdp_state_dict_type: FULL_STATE_DICT in the accelerate "
                          "config (accelerate_configs/fsdp.yaml does)")


def generation_batch(recipe: TrainRecipe, world: int) -> tuple[int, str]:
    """Completions per generation batch, and how it is made (for error messages)."""
    g = recipe.grpo
    if g.generation_batch_size is not None:
        return g.generation_batch_size, f"grpo.generation_batch_size={g.generation_batch_size}"
    n = g.per_device_train_batch_size * world * g.gradient_accumulation_steps
    return n, (f"grpo.per_device_train_batch_size={g.per_device_train_batch_size} x {world} process(es) x "
               f"grpo.gradient_accumulation_steps={g.gradient_accumulation_steps} = {n}")


def check_batch(recipe: TrainRecipe, world: int) -> None:
    if not recipe.grpo.enabled:
        return
    g = recipe.grpo
    n, how = generation_batch(recipe, world)
    if n % g.num_generations:
        raise RecipeError(
            f"grpo.num_generations={g.num_generations} does not divide the generation batch ({how}); "
            f"make the batch a multiple of {g.num_generations}, e.g. grpo.per_device_train_batch_size="
            f"{math.lcm(g.per_device_train_batch_size, g.num_generations)}"
        )
    glob = g.per_device_train_batch_size * world
    if g.generation_batch_size is not None and g.generation_batch_size % glob:
        raise RecipeError(f"grpo.generation_batch_size={n} must be a multiple of the global batch "
                          f"(grpo.per_device_train_batch_size x processes = {glob})")


def probe_url(base_url: str, model: str | None = None, timeout: float = 5.0,
              api_key_env: str | None = "OPENAI_API_KEY") -> None:
    """One GET of `<base_url>/models`: no answer is an error, and so is an answer that does
    not list `model` (a MetaJudge serving another model fails every match in training)."""
    import httpx

    url = base_url.rstrip("/") + "/models"
    shown = redact_url(base_url)
    key = os.environ.get(api_key_env) if api_key_env else None
    try:
        reply = httpx.get(url, timeout=timeout, headers={"Authorization": f"Bearer {key}"} if key else None)
    except httpx.HTTPError as e:
        raise RecipeError(f"reward.matcher.backend.base_url: {shown} does not answer ({type(e).__name__}: "
                          f"{str(e) or 'no reply'}); start the MetaJudge server or fix the URL") from None
    if model is None:
        return
    try:
        served = [str(m.get("id")) for m in reply.json()["data"]]
    except Exception:  # noqa: BLE001 - not an OpenAI model list: say what came back
        raise RecipeError(f"reward.matcher.backend.base_url: {shown}/models answers HTTP {reply.status_code} "
                          "without a model list; is it an OpenAI-compatible server?") from None
    if model not in served:
        raise RecipeError(f"reward.matcher.backend.model: {model!r} is not served at {shown} "
                          f"(/models lists: {', '.join(served) or 'none'})")


def preflight(recipe: TrainRecipe, data: tdata.TrainData | None, strict: bool = True) -> list[str]:
    """Raise on what would stop the run. With `strict=False` (a dry run, often made on
    another machine than the run) the checks of this machine's setup (vLLM installed, the
    MetaJudge URL answering) come back as warnings instead, and the GPU plan is left to the
    dry run's printout. `data` is None in a dry run that could not load it."""
    warnings: list[str] = []
    tdata.judge_style(recipe)
    if data is not None:
        tdata.check_units(recipe, data.train)
    check_batch(recipe, world_size())
    check_launch(recipe)
    import torch  # not at the top: the study's recipe check imports this module

    if strict and (recipe.gpu_memory_gib is not None or torch.cuda.is_available()):
        plan, _ = gp.plan_for(recipe)
        if plan is not None:
            plan.check()
    machine: list[RecipeError] = []
    try:
        check_local_model(recipe.model.ref)
    except ModelNotFoundError as e:
        machine.append(RecipeError(f"model.ref: {e}"))
    if recipe.use_vllm and importlib.util.find_spec("vllm") is None:
        machine.append(RecipeError("use_vllm=true but vLLM is not installed (pip install 'genrm[vllm]' on a CUDA "
                                   "machine, or set use_vllm=false)"))
    if recipe.lora.load_in_4bit and importlib.util.find_spec("bitsandbytes") is None:
        machine.append(RecipeError("lora.load_in_4bit=true (QLoRA) needs bitsandbytes (pip install bitsandbytes on a "
                                   "CUDA machine), or set lora.load_in_4bit=false"))
    if recipe.report_to == "trackio" and importlib.util.find_spec("trackio") is None:
        machine.append(RecipeError("report_to=trackio but trackio is not installed (pip install trackio, "
                                   "or report_to=wandb / none)"))
    m = recipe.reward.matcher
    if recipe.grpo.enabled and recipe.reward.kind != "outcome" and m.kind == "llm":
        backend = m.backend or {}
        if backend.get("kind", "openai") == "openai":
            if not backend.get("base_url"):
                raise RecipeError("reward.matcher.backend.base_url is missing (the MetaJudge's OpenAI-compatible URL)")
            try:
                probe_url(str(backend["base_url"]), backend.get("model"),
                          api_key_env=backend.get("api_key_env", "OPENAI_API_KEY"))
            except RecipeError as e:
                machine.append(e)
    if machine and strict:
        raise machine[0]
    warnings.extend(str(e) for e in machine)
    return warnings


@dataclass
class Plan:
    lines: list[tuple[str, Any]] = field(default_factory=list)
    gpu: gp.GpuPlan | None = None  # its refusal is raised after the plan is printed
    warnings: list[str] = field(default_factory=list)
    appendix: str = ""  # printed after the lines, not in plan.json (print_recipe: the resolved recipe)

    def add(self, key: str, value: Any) -> None:
        self.lines.append((key, value))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.lines)

    def text(self) -> str:
        width = max(len(k) for k, _ in self.lines)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in self.lines) + (f"\n{self.appendix}" if self.appendix else "")


def count_parameters(recipe: TrainRecipe) -> int | None:
    """Parameters of the model, from its config alone (meta tensors, no weights read); None
    when the config cannot be had (a hub id offline)."""
    cfg = gp.load_model_config(recipe)
    return None if cfg is None else gp.model_shape(cfg).params


def make_plan(recipe: TrainRecipe, data: tdata.TrainData | None, tokenizer: Any, data_error: str = "") -> Plan:
    p = Plan()
    world = world_size()
    n_params = count_parameters(recipe)
    p.add("model", f"{recipe.model.ref} ({'unknown' if n_params is None else f'{n_params / 1e6:.1f}M'} parameters, "
          f"{recipe.model.dtype}{', LoRA r=%d' % recipe.lora.r if recipe.lora.enabled else ''})")
    if data is None:
        p.add("data", f"unavailable ({data_error or 'not loaded'}): counts from the data are unknown")
    else:
        p.add("data", f"{data.path}: {len(data.train)} train, {len(data.eval)} eval records; "
              f"{sum(1 for r in data.train if r.rationale_units)} train records with units")
    lau = launcher()
    p.add("launcher", f"{lau['distributed']}, {world} process(es), mixed precision {lau['mixed_precision']}"
          + (f", ZeRO-{lau['zero_stage']}" if lau["zero_stage"] else ""))
    known = data is not None
    if recipe.sft.enabled:
        s = recipe.sft
        rows = tdata.sft_rows(data.train, recipe) if known else None
        per_step = s.per_device_train_batch_size * world * s.gradient_accumulation_steps
        steps = s.max_steps if s.max_steps > 0 else (
            math.ceil(math.ceil(len(rows) / per_step) * s.num_train_epochs) if rows is not None else "unknown")
        p.add("sft", f"{len(rows) if rows is not None else 'unknown'} examples, {per_step} per optimizer step, "
              f"{steps} steps, lr {s.learning_rate}")
        if rows is not None and tokenizer is not None:
            toks = _sft_tokens(rows, tokenizer)
            p.add("sft tokens", f"about {min(steps * per_step, len(rows) * s.num_train_epochs) * toks:,.0f} "
                  f"({toks:.0f} per example)")
        else:
            p.add("sft tokens", "unknown (no data or tokenizer)")
    gen_batch, _ = generation_batch(recipe, world)
    if recipe.grpo.enabled:
        g = recipe.grpo
        per_step = g.per_device_train_batch_size * world * g.gradient_accumulation_steps
        prompts_per_step = per_step / g.num_generations
        if known and tokenizer is not None:
            rows, dropped, lengths = tdata.fit_prompts(tdata.grpo_rows(data.train, recipe), tokenizer, g.max_prompt_length)
            steps = g.max_steps if g.max_steps > 0 else math.ceil(len(rows) * g.num_generations / per_step * g.num_train_epochs) * g.num_iterations
            mean_prompt = sum(lengths) / len(lengths) if lengths else 0
            p.add("grpo", f"{len(rows)} prompts ({dropped} over {g.max_prompt_length} tokens left out), "
                  f"{g.num_generations} completions each, {steps} optimizer steps, lr {g.learning_rate}")
        else:
            steps = g.max_steps if g.max_steps > 0 else None
            p.add("grpo", f"unknown prompts (no data or tokenizer), {g.num_generations} completions each, "
                  f"{steps or 'unknown'} optimizer steps, lr {g.learning_rate}")
        p.add("grpo batch", f"{per_step} completions ({prompts_per_step:g} prompts) per optimizer step; "
              f"generation batch {gen_batch}")
        p.add("grpo loss", f"{g.loss_type}, beta {g.beta}, epsilon {g.epsilon}/{g.epsilon_high or g.epsilon}, "
              f"scale_rewards {g.scale_rewards}")
        matched = per_step if recipe.reward.kind != "outcome" else 0
        p.add("reward", f"{recipe.reward.kind} ({recipe.reward.matcher.kind} matcher): up to {matched} matcher "
              f"calls per step, at most {recipe.reward.max_model_units} reasons each")
        if known and tokenizer is not None and steps is not None:
            p.add("grpo tokens", f"about {steps * per_step * mean_prompt:,.0f} prompt + up to "
                  f"{steps * per_step * g.max_completion_length:,} completion tokens (mean prompt {mean_prompt:.0f})")
        else:
            p.add("grpo tokens", "unknown (no data or tokenizer)")
    if recipe.eval_steps:
        n_eval = min(recipe.eval.max_records, len(data.eval)) if known else f"up to {recipe.eval.max_records}"
        p.add("eval", f"every {recipe.eval_steps} GRPO steps: {n_eval} "
              f"eval records judged greedily (up to {recipe.eval.max_new_tokens} new tokens)")
    p.gpu, skipped = gp.plan_for(recipe)
    if p.gpu is None:
        p.add("gpu plan", skipped)
    else:
        for key, value in p.gpu.lines:
            p.add(key, value)
        p.add("gpu plan", p.gpu.refusal or "fits")
    units = [len(r.rationale_units) for r in data.train if r.rationale_units] if known else []
    mj_lines, mj_warnings = gp.metajudge_load(recipe, gen_batch, world, sum(units) / len(units) if units else None)
    for key, value in mj_lines:
        p.add(key, value)
    p.warnings = mj_warnings
    p.add("output", recipe.output_dir)
    p.add("recipe.yaml", f"{os.path.join(recipe.output_dir, 'recipe.yaml')} (the resolved recipe; written when the run "
          "starts" + ("" if recipe.print_recipe else ", print_recipe=true prints it") + ")")
    if recipe.print_recipe:
        p.appendix = "\n# resolved recipe\n" + recipe_yaml(recipe).rstrip("\n")
    return p


def _sft_tokens(rows: list[dict], tokenizer: Any, sample: int = 64) -> float:
    if not rows:
        return 0.0
    picked = rows[:: max(1, len(rows) // sample)][:sample]
    texts = [tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in picked]
    return sum(len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]) / len(picked)
