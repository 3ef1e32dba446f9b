"""The study's recipe schema (`train/study.py recipe=recipes/study/<name>.yaml key=value ...`).

A study is a grid of arms x seeds. Every trained arm is one run of the project's
trainer (`genrm.training.run.train`) with the shared `trainer` settings; the study
sets, per arm, only what makes the arm:

    base       no training: the model as it is
    sft        SFT warm start only                     (sft.enabled, grpo off)
    outcome    SFT warm start + GRPO, outcome reward   (reward.kind=outcome)
    hybrid     SFT warm start + GRPO, R_rat x R_out    (reward.kind=hybrid)
    rationale  SFT warm start + GRPO, R_rat alone      (reward.kind=rationale: the hacking ablation)

The three GRPO arms of a seed start from that seed's SFT run (the same warm start,
so their differences are GRPO's alone); the SFT run is made even when `sft` is not
listed in `arms`. Every setting is fixed in the recipe before any result is seen.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from genrm.config import RecipeError, from_dict
from genrm.data.recipe import SourceSpec
from genrm.training import data as tdata
from genrm.training.plan import check_batch
from genrm.training.recipe import TrainRecipe

ARMS = ("base", "sft", "outcome", "hybrid", "rationale")
REWARD_OF = {"outcome": "outcome", "hybrid": "hybrid", "rationale": "rationale"}  # GRPO arm -> reward.kind
ArmName = Literal["base", "sft", "outcome", "hybrid", "rationale"]
# Trainer keys the study sets per arm and run (a `trainer.` value for them is refused).
CONTROLLED = ("name", "seed", "output_dir", "overwrite", "resume", "dry_run", "data", "model.ref", "sft.enabled",
              "grpo.enabled", "reward.kind", "eval.compare_base")


@dataclass
class StudyData:
    """The training mixture, built once by `genrm.data.build`; its eval split is held out."""

    sources: list[SourceSpec] = field(default_factory=list)  # the mixture's sources (as in a data recipe)
    optional_sources: list[SourceSpec] = field(default_factory=list)  # used when their path exists
    seed: int = 0  # the build's seed (sampling, placement, split)
    eval_fraction: float = 0.2  # the held-out pool (split by prompt: no prompt on both sides)
    max_train_records: Optional[int] = None  # the first N training records for every arm (None: all)
    # Label kinds the trained arms learn from (default: all); e.g. [gold] as the demo: directional
    # pairs (stereotype vs anti-stereotype) teach a lean, not a judgment
    label_kinds: Optional[list[str]] = None


@dataclass
class HeldOutEval:
    """What every arm and seed is measured on: the same held-out comparisons, placed alike."""

    records: int = 48  # held-out records judged (equal share per source, round-robin)
    bbq_items: int = 24  # BBQ questions for the social measures (alternating ambiguous / disambiguated)
    orders: Literal["one", "both"] = "one"  # one: seeded A/B placement; both: AB and BA
    max_new_tokens: int = 128  # tokens each held-out judgment may have
    top_k: int = 5  # rationale consistency: top-5 soft recall (the paper's protocol)
    matcher: dict[str, Any] = field(default_factory=lambda: {"kind": "embedding"})  # rationale consistency's matcher
    support_threshold: float = 0.5  # a judgment's reasons "make the chosen response's case" at RC >= this
    max_prompt_tokens: Optional[int] = None  # held-out judge prompts longer than this are left out (default: grpo.max_prompt_length)
    batch_size: int = 16  # generation batch of the judging backend
    dtype: str = "float32"  # dtype of the judging backend
    seed: int = 0  # A/B placement of the held-out comparisons (the same for every arm and seed)


@dataclass
class StatsConfig:
    resamples: int = 2000  # bootstrap resamples (seeds and held-out items drawn with replacement)
    confidence: float = 0.95  # level of the reported intervals
    seed: int = 0  # bootstrap seed


@dataclass
class StudyRecipe:
    name: str = "study"  # the study's name (in output_dir and study.md)
    output_dir: str = "outputs/study/${name}"  # every run, its measures, study.md, study.json and plots go here
    overwrite: bool = False  # replace an earlier study in output_dir
    resume: bool = True  # a rerun continues where a killed study stopped
    dry_run: bool = False  # print the grid and a time estimate; nothing is built or trained
    note: str = ""  # printed at the top of study.md (e.g. "reduced run: 1 seed, 3 arms")
    model: str = "embedded:smollm2-135m"  # the base model (a local path, hub id or embedded:<name>)
    arms: list[ArmName] = field(default_factory=lambda: list(ARMS))  # base, sft, outcome, hybrid, rationale
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # each trained arm is trained once per seed
    data: StudyData = field(default_factory=StudyData)
    eval: HeldOutEval = field(default_factory=HeldOutEval)
    trainer: dict[str, Any] = field(default_factory=dict)  # a TrainRecipe fragment shared by every trained arm
    stats: StatsConfig = field(default_factory=StatsConfig)
    keep_checkpoints: bool = False  # false: a finished run's intermediate checkpoints are removed (final model kept)
    plots: bool = True  # write plots beside study.md

    def validate(self) -> None:
        if not self.arms:
            raise RecipeError("key 'arms' is empty; choose from " + ", ".join(ARMS))
        if len(set(self.arms)) != len(self.arms):
            raise RecipeError("key 'arms' lists an arm twice")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise RecipeError(f"key 'seeds' must list distinct seeds, got {self.seeds}")
        if not self.data.sources and not self.data.optional_sources:
            raise RecipeError("key 'data.sources' is empty: the study needs training data")
        if not 0.0 < self.data.eval_fraction < 1.0:
            raise RecipeError(f"key 'data.eval_fraction' must be in (0, 1): the held-out split, got {self.data.eval_fraction}")
        e = self.eval
        if e.records < 1 or e.bbq_items < 0:
            raise RecipeError(f"keys 'eval.records' (>= 1) and 'eval.bbq_items' (>= 0), got {e.records}, {e.bbq_items}")
        if not 0.0 < e.support_threshold <= 1.0:
            raise RecipeError(f"key 'eval.support_threshold' must be in (0, 1], got {e.support_threshold}")
        if self.stats.resamples < 100 or not 0.5 < self.stats.confidence < 1.0:
            raise RecipeError("keys 'stats.resamples' (>= 100) and 'stats.confidence' (in (0.5, 1)) are out of range")
        for key in CONTROLLED:
            if _has(self.trainer, key):
                raise RecipeError(f"key 'trainer.{key}' is set by the study for each arm and seed; remove it "
                                  f"(the base model is the top-level key 'model')")
        for arm in self.trained_arms():
            self.train_recipe(arm, self.seeds[0], "<run>", "<splits>", "<sft>")

    def trained_arms(self) -> list[str]:
        """Arms to train, in run order: the SFT warm start whenever a GRPO arm is listed."""
        need = [a for a in self.arms if a != "base"]
        if any(a in REWARD_OF for a in need) and "sft" not in need:
            need.append("sft")
        return sorted(need, key=ARMS.index)

    def output_path(self) -> str:
        return self.output_dir.replace("${name}", self.name)

    def judge_style(self) -> tuple[str, Optional[str]]:
        """(verdict style, template path or None) of the trainer's `judge.template`."""
        arms = self.trained_arms()
        if not arms:
            return "rationale", None
        return tdata.judge_style(self.train_recipe(arms[0], self.seeds[0], "<run>", "<splits>", "<sft>"))

    def train_config(self, arm: str, seed: int, run_dir: str, splits_dir: str, sft_dir: str) -> dict[str, Any]:
        """The trainer recipe (plain data) of one arm and seed."""
        cfg = copy.deepcopy(self.trainer)
        cfg.update(name=f"{self.name}-{arm}-seed{seed}", seed=seed, output_dir=run_dir, overwrite=False, resume=True,
                   dry_run=False)
        cfg["data"] = {"path": splits_dir, "build": None, "train_split": "train", "eval_split": "heldout",
                       "max_train_records": self.data.max_train_records, "max_eval_records": None,
                       "label_kinds": self.data.label_kinds}
        cfg.setdefault("model", {})["ref"] = self.model if arm == "sft" else sft_dir
        cfg.setdefault("sft", {})["enabled"] = arm == "sft"
        cfg.setdefault("grpo", {})["enabled"] = arm != "sft"
        cfg.setdefault("eval", {})["compare_base"] = False
        if arm in REWARD_OF:
            cfg.setdefault("reward", {})["kind"] = REWARD_OF[arm]
        return cfg

    def train_recipe(self, arm: str, seed: int, run_dir: str, splits_dir: str, sft_dir: str) -> Any:
        """The checked `TrainRecipe` of one arm and seed (errors name the `trainer.` key)."""
        try:
            recipe = from_dict(TrainRecipe, self.train_config(arm, seed, run_dir, splits_dir, sft_dir), prefix="trainer")
            check_batch(recipe, 1)
        except RecipeError as e:
            msg = str(e)
            raise RecipeError(msg if "trainer." in msg else f"trainer: {msg}") from None
        return recipe


def _has(d: dict, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return False
        d = d[part]
    return True
