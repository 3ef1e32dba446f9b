"""The trainer's recipe schema (`train/genrm.py recipe=...`), validated before any weights load.

Every key is listed here with its default; `genrm.config.load_recipe` rejects unknown
keys and wrong types, and `TrainRecipe.validate` rejects impossible combinations.
Where TRL's defaults differ from the paper, the paper recipes set the paper's values
(see README, "Training recipes").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

from genrm.config import RecipeError, one_of
from genrm.data.record import LABEL_KINDS
from genrm.judge.config import EVALUATION_KEYS, SAMPLING_KEYS, JudgeConfig
from genrm.reward.config import MatcherConfig, RewardConfig  # noqa: F401 - the reward section; both importable here


@dataclass
class ModelConfig:
    ref: str = "embedded:smollm2-135m"  # a local path, hub id, or embedded:<name>
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"  # the weights' dtype as loaded
    attn_implementation: Optional[str] = None  # e.g. sdpa, eager, flash_attention_2
    trust_remote_code: bool = False  # run the model repository's own code (transformers' trust_remote_code)


@dataclass
class DataConfig:
    ONE_OF: ClassVar = (("path", "build"),)  # data.path=... on the command line replaces the recipe's data.build

    path: Optional[str] = None  # a built dataset directory (data_prep/build.py output)
    build: Optional[str] = None  # or a data recipe to build first (into its own output_dir)
    train_split: str = "train"  # the split trained on
    eval_split: str = "eval"  # the split of eval steps and eval.compare_base
    max_train_records: Optional[int] = None  # keep the first N training records (None: all)
    max_eval_records: Optional[int] = None  # keep the first N eval records (None: all)
    # Keep only records of these label kinds (gold, directional, ...), before the max_* caps;
    # None keeps all. Directional pairs have no right answer to learn (see README).
    label_kinds: Optional[list[str]] = None


@dataclass
class SFTConfig:
    enabled: bool = True  # run this stage
    learning_rate: float = 1e-4  # SFT learning rate
    num_train_epochs: float = 1.0  # epochs over the data (when max_steps is -1)
    max_steps: int = -1  # optimizer steps (-1: use the epochs)
    per_device_train_batch_size: int = 8  # examples per process and step
    gradient_accumulation_steps: int = 1  # micro-batches accumulated per optimizer step
    max_length: int = 2048  # examples are cut to this many tokens
    max_records: Optional[int] = None  # SFT on the first N training records (None: all)
    warmup_steps: float = 0.0  # steps, or a fraction of all steps when below 1
    # Each record in both placements (chosen as A and as B, the verdict and units rendered
    # for each), so that a constant-position verdict earns nothing. Doubles the examples.
    both_orders: bool = False
    max_units: Optional[int] = None  # keep the first N units of each target (None: all)
    # End each target with `So "<chosen>" (Response X) is the better response.` (data.decision_reason)
    decision_reason: bool = False


@dataclass
class GRPOConfig:
    enabled: bool = True  # run this stage
    num_generations: int = 8  # completions sampled per prompt (the group)
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo"] = "grpo"  # TRL's loss normalisation
    beta: float = 0.0  # KL penalty to the reference model (0: no reference model)
    epsilon: float = 0.2  # clip range of the ratio (low side, and high when epsilon_high is null)
    epsilon_high: Optional[float] = None  # the high clip side (DAPO's clip-higher)
    num_iterations: int = 1  # optimizer passes per generation batch
    max_prompt_length: int = 2048  # longer judge prompts are left out (counted in the plan)
    max_completion_length: int = 512  # tokens a completion may have
    temperature: float = 1.0  # sampling temperature of the rollouts
    top_p: float = 1.0  # nucleus sampling of the rollouts
    learning_rate: float = 1e-6  # GRPO learning rate
    num_train_epochs: float = 1.0  # epochs over the data (when max_steps is -1)
    max_steps: int = -1  # optimizer steps (-1: use the epochs)
    per_device_train_batch_size: int = 8  # examples per process and step
    gradient_accumulation_steps: int = 1  # micro-batches accumulated per optimizer step
    generation_batch_size: Optional[int] = None  # default: per-device batch x processes x accumulation
    scale_rewards: Literal["group", "batch", "none"] = "group"  # advantages over the group's or batch's std, or not
    mask_truncated_completions: bool = False  # completions cut at max_completion_length get no loss
    # TRL's "token" ratio per token, or "sequence": one length-normalised ratio per completion (GSPO)
    importance_sampling_level: Literal["token", "sequence"] = "token"
    log_completions: bool = True  # TRL's completions table (console, parquet, wandb) each logging step
    num_completions_to_print: Optional[int] = 2  # console rows of that table (0: none; null: every completion)
    both_orders: bool = False  # each record's prompt in both placements (see sft.both_orders)


@dataclass
class LoraConfig:
    enabled: bool = False  # train a LoRA adapter instead of all weights
    r: int = 16  # LoRA rank
    alpha: int = 32  # LoRA scaling alpha
    dropout: float = 0.05  # LoRA dropout
    target_modules: Any = "all-linear"  # modules adapted (PEFT's target_modules)
    load_in_4bit: bool = False  # QLoRA (needs bitsandbytes and a GPU)


@dataclass
class EvalConfig:
    max_records: int = 32  # eval-split records judged at each eval step
    max_new_tokens: int = 256  # tokens each eval judgment may have
    top_k: int = 5  # rationale consistency: top-5 soft recall (the paper's protocol)
    compare_base: bool = False  # after training: judge the eval split with base and trained side by side


@dataclass
class TrainRecipe:
    name: str = "genrm"  # the run's name (in output_dir and the logs)
    seed: int = 0  # seed of the trainer, sampling and data order
    output_dir: str = "outputs/train/${name}"  # recipe.yaml, plan.json, checkpoints and the final model go here
    overwrite: bool = False  # replace an earlier run in output_dir (only ever a directory a run wrote)
    resume: bool = False  # continue the run in output_dir from its last checkpoint
    dry_run: bool = False  # print the plan (and where recipe.yaml would go); load no weights, write nothing
    print_recipe: bool = False  # with dry_run: also print the resolved recipe (as recipe.yaml would hold it)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # mixed precision of training
    gradient_checkpointing: bool = False  # recompute activations in the backward pass (less memory, slower)
    # transformers' optimizer name; adafactor keeps no Adam moments (about 8 bytes a parameter less)
    optim: Literal["adamw_torch_fused", "adamw_torch", "adafactor", "adamw_bnb_8bit", "paged_adamw_8bit"] = (
        "adamw_torch_fused")
    use_vllm: bool = False  # generate GRPO rollouts with vLLM
    vllm_mode: Literal["colocate", "server"] = "colocate"  # vLLM in the training processes, or a trl vllm-serve
    vllm_server_base_url: Optional[str] = None  # vllm_mode=server: its URL
    # vllm_mode=server: seconds the trainer waits for the server to answer at start (TRL's default;
    # the URL carries host and port, so TRL's vllm_server_host/_port are not needed)
    vllm_server_timeout: float = 240.0
    vllm_gpu_memory_utilization: float = 0.3  # colocate: the share of GPU memory vLLM takes
    # TRL's vLLM fields, same names as trl.GRPOConfig (colocate mode; a server takes its own flags)
    vllm_max_model_length: Optional[int] = None  # None: the model's own context (40,960 for Qwen3)
    vllm_tensor_parallel_size: int = 1  # ranks that share one colocated engine (must divide the processes)
    vllm_enable_sleep_mode: bool = False  # free the engine's weights and KV cache while training steps run
    # Correction for vLLM's sampling logprobs vs the trainer's (TRL's defaults: on, sequence_mask, 3.0)
    vllm_importance_sampling_correction: bool = True
    vllm_importance_sampling_mode: Literal["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"] = (
        "sequence_mask")  # per token or per sequence; truncate (clip) or mask the ratios outside the clip
    vllm_importance_sampling_clip_max: Optional[float] = 3.0  # upper clip of that correction's ratio
    vllm_importance_sampling_clip_min: Optional[float] = None  # lower clip of that correction's ratio
    gpu_memory_gib: Optional[float] = None  # the GPU plan's memory per GPU; default: the detected device, else 80
    report_to: Literal["wandb", "trackio", "none"] = "wandb"  # tracker (wandb runs offline without WANDB_API_KEY)
    save_steps: int = 50  # a checkpoint every N optimizer steps
    save_total_limit: Optional[int] = 2  # checkpoints kept (None: all)
    eval_steps: int = 0  # 0: no eval steps during GRPO
    logging_steps: int = 1  # log metrics every N steps
    merge: bool = False  # LoRA: also write the merged full model as the final checkpoint

    def validate(self) -> None:
        # The trainer judges with the model it trains; GRPO samples with grpo.*, eval steps with eval.*.
        self.judge.refuse(("backend", *SAMPLING_KEYS, *EVALUATION_KEYS),
                          "the trainer judges with the model it trains (sampling: grpo.* and eval.*)")
        if not self.sft.enabled and not self.grpo.enabled:
            raise RecipeError("sft.enabled and grpo.enabled are both false: nothing to train")
        one_of(self.data, "data", ("path", "build"), "a built dataset directory", "a data recipe to build")
        if self.overwrite and self.resume:
            raise RecipeError("overwrite=true and resume=true contradict each other; pick one")
        if self.use_vllm and self.vllm_mode == "server" and not self.vllm_server_base_url:
            raise RecipeError("vllm_mode=server needs vllm_server_base_url (e.g. http://127.0.0.1:8000)")
        if self.vllm_server_timeout <= 0:
            raise RecipeError(f"vllm_server_timeout must be > 0 seconds, got {self.vllm_server_timeout}")
        self._validate_vllm()
        if self.reward.kind == "weighted" and len(self.reward.weights) != 2:
            raise RecipeError(f"reward.weights must be [w_outcome, w_rationale], got {self.reward.weights}")
        if self.reward.matcher.kind == "llm" and not self.reward.matcher.backend:
            raise RecipeError("reward.matcher.kind=llm needs reward.matcher.backend (e.g. {kind: openai, base_url: ...})")
        if self.merge and not self.lora.enabled:
            raise RecipeError("merge=true only applies with lora.enabled=true")
        if self.lora.load_in_4bit and not self.lora.enabled:
            raise RecipeError("lora.load_in_4bit=true (QLoRA) needs lora.enabled=true")
        g = self.grpo
        if g.num_generations < 2:
            raise RecipeError(f"grpo.num_generations must be >= 2 (GRPO compares completions in a group), got {g.num_generations}")
        if g.epsilon_high is not None and g.epsilon_high < g.epsilon:
            raise RecipeError(f"grpo.epsilon_high ({g.epsilon_high}) is below grpo.epsilon ({g.epsilon})")
        for key, v in (("grpo.max_steps", g.max_steps), ("sft.max_steps", self.sft.max_steps)):
            if v == 0 or v < -1:
                raise RecipeError(f"{key} must be -1 (use epochs) or a positive number of steps, got {v}")
        for key, v in (("save_steps", self.save_steps), ("logging_steps", self.logging_steps),
                       ("grpo.per_device_train_batch_size", g.per_device_train_batch_size),
                       ("sft.per_device_train_batch_size", self.sft.per_device_train_batch_size)):
            if v < 1:
                raise RecipeError(f"{key} must be >= 1, got {v}")
        if self.eval_steps < 0:
            raise RecipeError(f"eval_steps must be >= 0, got {self.eval_steps}")
        bad = [k for k in self.data.label_kinds or () if k not in LABEL_KINDS]
        if bad or self.data.label_kinds == []:
            raise RecipeError(f"key 'data.label_kinds' must list some of {', '.join(LABEL_KINDS)}, got {self.data.label_kinds}")
        if self.sft.max_units is not None and self.sft.max_units < 1:
            raise RecipeError(f"key 'sft.max_units' must be >= 1 or null, got {self.sft.max_units}")
        if self.gpu_memory_gib is not None and self.gpu_memory_gib <= 0:
            raise RecipeError(f"gpu_memory_gib must be > 0 (GiB per GPU), got {self.gpu_memory_gib}")
        if self.precision == "fp16" and self.model.dtype == "bfloat16":
            raise RecipeError("precision=fp16 with model.dtype=bfloat16: pick one half precision")

    def _validate_vllm(self) -> None:
        g = self.grpo
        if self.vllm_tensor_parallel_size < 1:
            raise RecipeError(f"vllm_tensor_parallel_size must be >= 1, got {self.vllm_tensor_parallel_size}")
        need = g.max_prompt_length + g.max_completion_length
        if self.vllm_max_model_length is not None and self.vllm_max_model_length < need:
            # vLLM refuses a longer request mid-run; say so before any weights load.
            raise RecipeError(f"vllm_max_model_length={self.vllm_max_model_length} is below grpo.max_prompt_length + "
                              f"grpo.max_completion_length = {need}; set it to at least {need}")
        if g.num_completions_to_print is not None and g.num_completions_to_print < 0:
            raise RecipeError(f"grpo.num_completions_to_print must be >= 0 or null, got {g.num_completions_to_print}")
        lo, hi = self.vllm_importance_sampling_clip_min, self.vllm_importance_sampling_clip_max
        if lo is not None and hi is not None and lo >= hi:
            raise RecipeError(f"vllm_importance_sampling_clip_min ({lo}) must be below "
                              f"vllm_importance_sampling_clip_max ({hi})")
        if (self.vllm_importance_sampling_correction and self.vllm_importance_sampling_mode.endswith("_truncate")
                and lo is None and hi is None):
            raise RecipeError(f"vllm_importance_sampling_mode={self.vllm_importance_sampling_mode} needs "
                              "vllm_importance_sampling_clip_max or _clip_min")
