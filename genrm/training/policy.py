"""Train a policy with TRL GRPO, the GenRM as its reward (`train/policy_grpo.py`).

The prompts come from built preference records (`data.build` builds them first when
missing, as the GenRM trainer does; or `data.path`: a built dataset directory or a
records `.jsonl`); each record's chosen response is the reference answer the
`reference` strategy compares against. The reward is `genrm.rlhf.trl.GenRMReward`
over `reward.judge` (a trained GenRM: the trainer's output dir; the embedded SmolLM2;
or an OpenAI-compatible URL such as `vllm serve`). `grpo` holds TRL `GRPOConfig`
arguments as they are. Writes `final/` (the policy), `recipe.yaml` and
`rewards/rank<r>.jsonl` (one line per reward call) into `output_dir`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from genrm.assets import resolve_model
from genrm.config import RecipeError, dump_recipe, load_recipe, one_of, to_dict
from genrm.data.build import build
from genrm.data.recipe import BuildRecipe
from genrm.data.record import read_jsonl
from genrm.judge.config import JudgeConfig
from genrm.outputs import claim_output_dir
from genrm.rlhf.pairwise import StrategyConfig
from genrm.rlhf.trl import GenRMReward
from genrm.training import dist


@dataclass
class PolicyData:
    ONE_OF: ClassVar = (("path", "build"),)  # data.path=... on the command line replaces the recipe's data.build

    build: Optional[str] = None  # a data recipe (recipes/data/*.yaml), built when its output is missing
    path: Optional[str] = None  # a built dataset directory (<split>.jsonl inside) or a records .jsonl
    split: str = "train"  # the split whose prompts are trained on
    max_prompts: Optional[int] = None  # the first N prompts (None: all)

    def validate(self) -> None:
        one_of(self, "data", ("path", "build"), "a built dataset directory or records .jsonl", "a data recipe")


@dataclass
class PolicyReward:
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    group_size: Optional[int] = None  # completions per prompt in a group (default: grpo's num_generations)


@dataclass
class PolicyGRPORecipe:
    name: str = "policy_grpo"  # the run's name (in output_dir)
    seed: int = 0  # seed of the trainer and sampling
    policy: str = "embedded:smollm2-135m"  # the model trained (HF dir, hub id or embedded:<name>)
    output_dir: str = "outputs/policy/${name}"  # checkpoints, the final policy and recipe.yaml go here
    overwrite: bool = False  # replace an earlier run in output_dir (only ever a directory a run wrote)
    data: PolicyData = field(default_factory=PolicyData)
    reward: PolicyReward = field(default_factory=PolicyReward)
    grpo: dict[str, Any] = field(default_factory=dict)  # trl.GRPOConfig arguments
    report_to: str = "none"  # experiment tracker (TRL's report_to: none, wandb, trackio)


def _records_file(data: PolicyData) -> str:
    path = data.path
    if data.build is not None:
        built = load_recipe([f"recipe={data.build}"], BuildRecipe)
        path = built.output_dir
        if not os.path.isfile(os.path.join(path, f"{data.split}.jsonl")):
            build(to_dict(built))
    assert path is not None
    f = path if path.endswith(".jsonl") else os.path.join(path, f"{data.split}.jsonl")
    if not os.path.isfile(f):
        raise RecipeError(f"data.path: {f} does not exist (build it with `python data_prep/build.py recipe=...`)")
    return f


def prompt_rows(data: PolicyData) -> list[dict]:
    """GRPO rows: the record's prompt (chat messages) and its chosen response as `reference`."""
    rows = []
    for r in read_jsonl(_records_file(data)):
        rows.append({"prompt": r.prompt, "reference": r.chosen})
        if data.max_prompts is not None and len(rows) >= data.max_prompts:
            break
    if not rows:
        raise RecipeError(f"data: no records in {_records_file(data)}")
    return rows


# transformers after 5.17 (the newest vLLM 0.31 allows) renamed gradient_checkpointing to
# activation_checkpointing; either recipe key works on either version.
_RENAMED = {"activation_checkpointing": "gradient_checkpointing",
            "activation_checkpointing_kwargs": "gradient_checkpointing_kwargs"}


def checkpointing_keys(kw: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """`kw` with activation/gradient checkpointing keys under the names that `fields` has."""
    out = dict(kw)
    for new, old in _RENAMED.items():
        for have, want in ((new, old), (old, new)):
            if have in out and have not in fields and want in fields and want not in out:
                out[want] = out.pop(have)
    return out


def grpo_config(recipe: PolicyGRPORecipe, output_dir: str) -> Any:
    from trl import GRPOConfig

    kw = {"output_dir": output_dir, "seed": recipe.seed, "report_to": recipe.report_to, "logging_steps": 1,
          "save_strategy": "no", **recipe.grpo}
    kw = checkpointing_keys(kw, {f.name for f in dataclasses.fields(GRPOConfig)})
    try:
        return GRPOConfig(**kw)
    except TypeError as e:
        raise RecipeError(f"grpo: {e}".replace("__init__() ", "")) from None
    except ValueError as e:  # TRL's own checks (batch divisible by num_generations, ...)
        raise RecipeError(f"grpo: {str(e).splitlines()[0]}") from None


def train_policy(argv: list[str]) -> int:
    from accelerate import PartialState
    from datasets import Dataset
    from trl import GRPOTrainer

    recipe = load_recipe(argv, PolicyGRPORecipe)
    dist.init_processes()
    state = PartialState(cpu=dist.cpu_processes())
    out = recipe.output_dir
    args = grpo_config(recipe, out)
    rows = prompt_rows(recipe.data)
    if state.is_main_process:
        claim_output_dir(out, "policy_grpo", overwrite=recipe.overwrite)
        dump_recipe(recipe, os.path.join(out, "recipe.yaml"))
    state.wait_for_everyone()
    # TRL's groups are num_generations long: knowing that, a rank whose slice holds whole
    # groups judges them without a collective (genrm.rlhf.trl.groups_stay_on_rank)
    reward = GenRMReward(recipe.reward.judge, recipe.reward.strategy,
                         group_size=recipe.reward.group_size or args.num_generations,
                         log_dir=os.path.join(out, "rewards"))
    trainer = GRPOTrainer(model=resolve_model(recipe.policy), reward_funcs=[reward], args=args,
                          train_dataset=Dataset.from_list(rows))
    trainer.train()
    trainer.save_model(os.path.join(out, "final"))
    if state.is_main_process:
        print(f"policy: {out}/final; reward log: {out}/rewards/; judge calls: {reward.totals['judge_calls']}")
    return 0
