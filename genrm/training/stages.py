"""The two training stages, run by TRL: an SFT warm start (`trl.SFTTrainer`) and GRPO on
the recipe's reward (`trl.GRPOTrainer`). Our code builds their datasets, configs, reward
function and callbacks; TRL does the optimisation."""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

from genrm.reward.rewards import matcher_from_config
from genrm.training import data as tdata
from genrm.training import dist, vllm_sync
from genrm.training.callbacks import JudgeEvalCallback, match_failure_stop
from genrm.training.checkpoints import last_complete_checkpoint
from genrm.training.models import load_tokenizer, merge_adapter, model_init_kwargs, peft_config, save_final
from genrm.training.recipe import TrainRecipe
from genrm.training.rewards import rows_log_path, training_reward

DONE = "DONE"  # marks a finished stage directory (resume skips it)


def stage_done(stage_dir: str) -> bool:
    return os.path.isfile(os.path.join(stage_dir, DONE))


def _common(recipe: TrainRecipe, stage_dir: str, stage: str) -> dict[str, Any]:
    import dataclasses

    import torch
    import transformers

    names = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return dict(
        output_dir=stage_dir,
        run_name=f"{recipe.name}-{stage}",
        seed=recipe.seed,
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        report_to=[] if recipe.report_to == "none" else [recipe.report_to],
        bf16=recipe.precision == "bf16",
        fp16=recipe.precision == "fp16",
        # transformers after 5.17 names it activation_checkpointing (the old name warns)
        **{checkpointing: recipe.gradient_checkpointing},
        dataloader_pin_memory=torch.cuda.is_available(),  # pinning warns on a CPU-only run
        optim=recipe.optim,
        disable_tqdm=False,
        save_only_model=False,
        # DeepSpeed on CPU: accelerate finds no device backend, so TrainingArguments would see
        # one process while DeepSpeed joins them all (its batch check then fails)
        **({"ddp_backend": "gloo"} if dist.deepspeed_cpu_processes() else {}),
    )


def run_sft(recipe: TrainRecipe, train: list, model_ref: str, stage_dir: str) -> str:
    """SFT warm start from `model_ref`; returns the directory of the trained full model."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    rows = tdata.sft_rows(train, recipe)
    if not rows:
        raise ValueError("sft: no training record has rationale units to build an SFT target from")
    ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    s = recipe.sft
    cfg = SFTConfig(
        **_common(recipe, stage_dir, "sft"),
        learning_rate=s.learning_rate, num_train_epochs=s.num_train_epochs, max_steps=s.max_steps,
        per_device_train_batch_size=s.per_device_train_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps, warmup_steps=s.warmup_steps,
        max_length=s.max_length, completion_only_loss=True, model_init_kwargs=model_init_kwargs(recipe),
    )
    trainer = SFTTrainer(model=model_ref, args=cfg, train_dataset=ds,
                         processing_class=load_tokenizer(recipe, model_ref), peft_config=peft_config(recipe))
    trainer.train(resume_from_checkpoint=last_complete_checkpoint(stage_dir))
    final = os.path.join(stage_dir, "final")
    if recipe.lora.enabled:
        # GRPO starts a fresh adapter on the warm-started weights: merge this one in, from
        # the saved adapter (whole tensors under ZeRO-3 or FSDP too)
        adapter = os.path.join(stage_dir, "final-adapter")
        trainer.save_model(adapter)
        if trainer.accelerator.is_main_process:
            merge_adapter(adapter, final, recipe)
            trainer.processing_class.save_pretrained(final)
        trainer.accelerator.wait_for_everyone()
    else:
        trainer.save_model(final)
        if trainer.accelerator.is_main_process:
            trainer.processing_class.save_pretrained(final)
    if trainer.accelerator.is_main_process:
        open(os.path.join(stage_dir, DONE), "w").close()
    trainer.accelerator.wait_for_everyone()
    # every rank's writes are done before any rank reads `final` (under FSDP on CPU each rank
    # counts as process 0 and saves it, and the trainer's own barrier waits for nobody)
    dist.barrier()
    return final


def grpo_args(recipe: TrainRecipe, stage_dir: str) -> Any:
    from trl import GRPOConfig

    g = recipe.grpo
    vllm = {}
    if recipe.use_vllm:
        vllm = dict(use_vllm=True, vllm_mode=recipe.vllm_mode,
                    vllm_gpu_memory_utilization=recipe.vllm_gpu_memory_utilization,
                    vllm_max_model_length=recipe.vllm_max_model_length,
                    vllm_tensor_parallel_size=recipe.vllm_tensor_parallel_size,
                    vllm_enable_sleep_mode=recipe.vllm_enable_sleep_mode,
                    vllm_importance_sampling_correction=recipe.vllm_importance_sampling_correction,
                    vllm_importance_sampling_mode=recipe.vllm_importance_sampling_mode,
                    vllm_importance_sampling_clip_max=recipe.vllm_importance_sampling_clip_max,
                    vllm_importance_sampling_clip_min=recipe.vllm_importance_sampling_clip_min)
        if recipe.vllm_mode == "server":
            vllm.update(vllm_server_base_url=recipe.vllm_server_base_url,
                        vllm_server_timeout=recipe.vllm_server_timeout)
    return GRPOConfig(
        **_common(recipe, stage_dir, "grpo"), **vllm,
        learning_rate=g.learning_rate, num_train_epochs=g.num_train_epochs, max_steps=g.max_steps,
        per_device_train_batch_size=g.per_device_train_batch_size,
        gradient_accumulation_steps=g.gradient_accumulation_steps, generation_batch_size=g.generation_batch_size,
        num_generations=g.num_generations, loss_type=g.loss_type, beta=g.beta, epsilon=g.epsilon,
        epsilon_high=g.epsilon_high, num_iterations=g.num_iterations, max_completion_length=g.max_completion_length,
        temperature=g.temperature, top_p=g.top_p, scale_rewards=g.scale_rewards,
        mask_truncated_completions=g.mask_truncated_completions, log_completions=g.log_completions,
        num_completions_to_print=g.num_completions_to_print, importance_sampling_level=g.importance_sampling_level,
        model_init_kwargs=model_init_kwargs(recipe), shuffle_dataset=True,
    )


def run_grpo(recipe: TrainRecipe, train: list, evals: list, model_ref: str, stage_dir: str, final_dir: str,
             matcher: Any = None) -> JudgeEvalCallback | None:
    """GRPO from `model_ref` on the recipe's reward; the final checkpoint goes to `final_dir`."""
    import datasets
    from trl import GRPOTrainer

    style, template = tdata.judge_style(recipe)
    tokenizer = load_tokenizer(recipe, model_ref)
    rows, dropped, _ = tdata.fit_prompts(tdata.grpo_rows(train, recipe), tokenizer, recipe.grpo.max_prompt_length)
    if dropped:
        print(f"note: {dropped} training prompts are longer than grpo.max_prompt_length="
              f"{recipe.grpo.max_prompt_length} tokens and are left out")
    if not rows:
        raise ValueError(f"grpo: no judge prompt fits grpo.max_prompt_length={recipe.grpo.max_prompt_length}")
    os.makedirs(stage_dir, exist_ok=True)
    reward = training_reward(recipe, style, rows_log_path(stage_dir), matcher=matcher)
    callback = None
    callbacks = []
    if recipe.eval_steps and evals:
        callback = JudgeEvalCallback(
            evals[: recipe.eval.max_records], recipe.eval_steps, style=style, template=template,
            max_new_tokens=recipe.eval.max_new_tokens, top_k=recipe.eval.top_k,
            matcher=getattr(reward, "matcher", None) or matcher_from_config(recipe.reward.matcher),
        )
        callbacks.append(callback)
    stop = match_failure_stop(recipe.reward, reward.__name__)
    callbacks += [stop] if stop is not None else []
    cpu_vllm = vllm_sync.cpu_sync_needed(recipe)  # TRL's NCCL / in-place weight sync cannot run on CPU
    with vllm_sync.without_nccl_communicator() if cpu_vllm and recipe.vllm_mode == "server" else nullcontext():
        trainer = GRPOTrainer(model=model_ref, reward_funcs=[reward], args=grpo_args(recipe, stage_dir),
                              train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer,
                              peft_config=peft_config(recipe), callbacks=callbacks)
    if cpu_vllm:
        vllm_sync.install(trainer, stage_dir)
    if callback is not None:
        callback.trainer = trainer
    trainer.train(resume_from_checkpoint=last_complete_checkpoint(stage_dir))
    save_final(trainer, recipe, final_dir)
    if trainer.accelerator.is_main_process:
        open(os.path.join(stage_dir, DONE), "w").close()
    dist.barrier()  # as after SFT: the final model is whole before the main process reads it
    return callback
