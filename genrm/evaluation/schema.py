"""The evaluation recipe schema (`evaluate/run.py recipe=recipes/eval/<name>.yaml key=value ...`).

The shortcut `models=[<ref>,...]` is accepted too: each entry is a model reference,
optionally followed by `@genrm`, `@scalar` or `@proxy` (default genrm), e.g.
`models=[outputs/train/run1,embedded:smollm2-135m@proxy]`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

import yaml

from genrm.assets import EMBEDDED_MODELS
from genrm.backends import check_backend_options
from genrm.config import RecipeError
from genrm.data.recipe import SourceSpec
from genrm.data.record import LABEL_KINDS, RATIONALE_ORIGINS
from genrm.judge.config import JudgeConfig

MODEL_KINDS = ("genrm", "scalar", "proxy")
SCALAR_OPTIONS = ("dtype", "device", "trust_remote_code", "num_threads")
SUITES = ("rm_bench", "judgebench", "rewardbench", "rewardbench2", "best_of_n", "social", "rationale")


@dataclass
class ModelSpec:
    """One model to evaluate. `ref`: a local path (a trainer output directory resolves to its
    final model), a hub id, `embedded:smollm2-135m`, or an OpenAI-compatible endpoint URL."""

    ref: str  # a path (a trainer output dir: its final model), hub id, embedded:<name> or endpoint URL
    kind: Literal["genrm", "scalar", "proxy"] = "genrm"  # a judge, a sequence-classifier RM, or an LLM's likelihood
    name: Optional[str] = None  # label in the report (default: derived from ref and kind)
    backend: dict[str, Any] = field(default_factory=dict)  # backend options: kind (hf|vllm|openai), dtype, ...
    api_model: Optional[str] = None  # model name at an endpoint (default: the first it lists)
    normalize: Literal["sum", "mean"] = "mean"  # proxy: summed or per-token log-likelihood
    batch_size: int = 16  # scalar / proxy scoring batch
    max_length: Optional[int] = None  # scalar: truncate longer inputs
    # At most N items of each suite for this model (in the suite's order; default: all of them),
    # e.g. a base model that writes no verdict zero-shot: its report rows carry their own n
    limit: Optional[int] = None

    def validate(self) -> None:
        if not self.ref.strip():
            raise RecipeError("key 'models.N.ref' is empty")
        if self.batch_size < 1:
            raise RecipeError(f"key 'batch_size' of model {self.ref!r} must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise RecipeError(f"key 'limit' of model {self.ref!r} must be >= 1 or null, got {self.limit}")
        if self.ref.startswith("embedded:") and self.ref[len("embedded:"):] not in EMBEDDED_MODELS:
            name = self.ref[len("embedded:"):]
            close = difflib.get_close_matches(name, EMBEDDED_MODELS, n=1)
            raise RecipeError(f"models: unknown embedded model {name!r}; "
                              + (f"did you mean 'embedded:{close[0]}'? " if close else "")
                              + f"known: {', '.join('embedded:' + k for k in EMBEDDED_MODELS)}")
        self._check_backend()
        label = self.label
        # the label names the model's results directory: one plain path component, no escape
        if label in ("", ".", "..") or any(c in label for c in "/\\\0") or label.startswith("."):
            raise RecipeError(f"key 'models.N.name' {label!r} must be one plain directory name (no '/', '\\', "
                              "leading '.' or '..'); it names the model's results directory")

    def _check_backend(self) -> None:
        """Backend options the model's backend would not take: refused now, before data loads."""
        kw = dict(self.backend)
        kind = kw.pop("kind", None)
        where = f"models: model {self.ref!r}"
        if self.kind == "scalar":  # a sequence classifier, not a generation backend
            extra = sorted(set(kw) - set(SCALAR_OPTIONS))
            if kind is not None or extra:
                raise RecipeError(f"{where}: backend options {sorted(([] if kind is None else ['kind']) + extra)} "
                                  f"do not apply to a scalar RM (known: {', '.join(SCALAR_OPTIONS)})")
            return
        endpoint = self.ref.startswith(("http://", "https://"))
        try:
            check_backend_options({"kind": kind or ("openai" if endpoint else "hf"), **kw})
        except RecipeError as e:
            raise RecipeError(f"{where}: {e}") from None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.ref.startswith(("http://", "https://")):
            host = self.ref.split("://", 1)[1].split("/")[0].rsplit("@", 1)[-1]  # no user:password
            base = self.api_model or host.replace(":", "_")
        elif self.ref.startswith("embedded:"):
            base = self.ref[len("embedded:"):]
        else:
            base = self.ref.rstrip("/").split("/")[-1]
        return f"{base}-{self.kind}" if self.kind != "genrm" else base


@dataclass
class RMBenchData:
    path: str = "THU-KEG/RM-Bench"  # hub id, or a local copy of its files
    split: str = "train"  # the split read
    kinds: Optional[list[str]] = None  # e.g. [chat, safety]; default: all files read


@dataclass
class JudgeBenchData:
    path: str = "ScalerLab/JudgeBench"  # hub id, or a local file in its schema
    split: str = "gpt"  # gpt (GPT-4o pairs) or claude
    config: Optional[str] = None  # the dataset config (hub)


@dataclass
class RewardBenchData:
    path: str = "allenai/reward-bench"  # hub id, or a local file in its schema
    split: str = "filtered"  # the split read


@dataclass
class RewardBench2Data:
    """RewardBench 2 (`genrm.evaluation.suites.rewardbench2`): the hub id or a local parquet/JSONL
    path in its schema, and the GenRM protocols, each reported apart."""

    path: str = "allenai/reward-bench-2"  # hub id, or a local parquet/JSONL in its schema
    split: str = "test"  # the split read
    subsets: Optional[list[str]] = None  # e.g. [Focus, Ties]; default: all six
    # GenRM: pairwise (ours, the judge's orders), ranking (official 4-way), ratings (official 1-10)
    protocols: list[Literal["pairwise", "ranking", "ratings"]] = field(default_factory=lambda: ["pairwise", "ranking"])
    seeds: Optional[list[int]] = None  # 4-way placements, one run each (default: the recipe's seed)
    # pairwise Ties: completions scored by this genrm.judge.scalarize strategy (round_robin: G(G-1) calls)
    ties_strategy: Literal["round_robin", "bradley_terry", "sampled_round_robin"] = "round_robin"
    ties_rounds: int = 2  # sampled_round_robin: each completion meets 2 x rounds others
    limit: Optional[int] = None  # prompts per subset (Ties: prompt numbers; default: the recipe's `limit`)

    def validate(self) -> None:
        if not self.protocols or len(set(self.protocols)) != len(self.protocols):
            raise RecipeError(f"key 'data.rewardbench2.protocols' must list some of pairwise, ranking, ratings once "
                              f"each; got {self.protocols}")
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise RecipeError(f"key 'data.rewardbench2.seeds' must list distinct seeds or be null; got {self.seeds}")
        if self.ties_rounds < 1 or (self.limit is not None and self.limit < 1):
            raise RecipeError(f"keys 'data.rewardbench2.ties_rounds' and 'data.rewardbench2.limit' must be >= 1; "
                              f"got {self.ties_rounds} and {self.limit}")


@dataclass
class BestOfNData:
    """Generic best-of-N rows (`genrm.evaluation.suites.best_of_n`): generic, RMB or PPE layout."""

    path: Optional[str] = None  # a file, a directory of files or a hub id (required by the suite)
    split: str = "train"  # the split read
    format: Literal["generic", "rmb", "ppe"] = "generic"  # the file's layout
    limit: Optional[int] = None  # prompts (default: the recipe's `limit`)

    def validate(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise RecipeError(f"key 'data.best_of_n.limit' must be >= 1 or null, got {self.limit}")


@dataclass
class SocialData:
    """Built records (JSONL files, or `save_to_disk` directories from data_prep/build.py, whose
    `eval` split is read) and/or sources read directly (the build's source specs)."""

    records: list[str] = field(default_factory=list)  # built records: .jsonl files or save_to_disk dirs
    sources: list[SourceSpec] = field(default_factory=list)  # sources read directly (as in a data recipe)
    limit: Optional[int] = None  # items per part of each input (default: the recipe's `limit`)


@dataclass
class RationaleData:
    source: str = "rationalerm"  # the data source read (a data recipe's source name)
    path: str = "Qwen/RationaleRM"  # its path or hub id
    options: dict[str, Any] = field(default_factory=lambda: {"split": "test"})  # the source's options
    records: list[str] = field(default_factory=list)  # built record files/dirs, read instead of the source
    origins: list[str] = field(default_factory=lambda: ["human"])  # whose units count (e.g. also "template")
    # Pairs of these label kinds only; [gold] leaves out directional pairs, which have no right answer
    label_kinds: list[str] = field(default_factory=lambda: list(LABEL_KINDS))
    limit: Optional[int] = None  # records (default: the recipe's `limit`)

    def validate(self) -> None:
        bad = [o for o in self.origins if o not in RATIONALE_ORIGINS or o == "none"]
        if bad or not self.origins:
            raise RecipeError(f"key 'data.rationale.origins' must list some of human, llm, template; got {self.origins}")
        if not self.label_kinds or any(k not in LABEL_KINDS for k in self.label_kinds):
            raise RecipeError(f"key 'data.rationale.label_kinds' must list some of {', '.join(LABEL_KINDS)}; "
                              f"got {self.label_kinds}")


@dataclass
class SuiteData:
    """The data of every suite (`data.<suite>.*` keys of an evaluation recipe)."""

    rm_bench: RMBenchData = field(default_factory=RMBenchData)
    judgebench: JudgeBenchData = field(default_factory=JudgeBenchData)
    rewardbench: RewardBenchData = field(default_factory=RewardBenchData)
    rewardbench2: RewardBench2Data = field(default_factory=RewardBench2Data)
    best_of_n: BestOfNData = field(default_factory=BestOfNData)
    social: SocialData = field(default_factory=SocialData)
    rationale: RationaleData = field(default_factory=RationaleData)


@dataclass
class EvalRecipe:
    name: str = "eval"  # the evaluation's name (in output_dir and the report)
    seed: int = 0  # placement, sampling and bootstrap seed
    output_dir: str = "outputs/eval/${name}"  # per-item results, summary.json, report.md and plots/ go here
    overwrite: bool = False  # replace an earlier evaluation's directory (wins over resume)
    resume: bool = True  # continue an earlier run in output_dir (items already done are kept)
    # Quick runs: the first N items of each RM-Bench file, RewardBench (2) subset, social part
    # (BBQ questions, CrowS pairs, StereoSet items, other pairs) of each input; N JudgeBench
    # pairs, best-of-N prompts and rationale records.
    limit: Optional[int] = None
    models: list[ModelSpec] = field(default_factory=list)  # models=[ref,ref@scalar,ref@proxy] is short for it
    suites: list[Literal["rm_bench", "judgebench", "rewardbench", "rewardbench2", "best_of_n", "social",
                         "rationale"]] = field(
        default_factory=lambda: ["rm_bench", "judgebench"])  # the suites run, in order
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    matcher: dict[str, Any] = field(default_factory=lambda: {"kind": "embedding"})  # rationale consistency's matcher
    data: SuiteData = field(default_factory=SuiteData)
    plots: bool = True  # write plots/ beside the report
    bootstrap_resamples: int = 1000  # of the 95% intervals in the report (seeded with `seed`); 0: none

    def validate(self) -> None:
        # Each model judges on its own backend (models.N.backend), sampling with the recipe's seed.
        self.judge.refuse(("backend",), "each model names its own backend (models.N.backend)")
        self.judge.refuse(("seed",), "the evaluation samples with the recipe's top-level 'seed'")
        if not self.models:
            raise RecipeError("key 'models' is empty: name at least one model (models=[<ref>,...])")
        labels = [m.label for m in self.models]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise RecipeError(f"key 'models': two models share the name {dup[0]!r}; give one a 'name'")
        if not self.suites:
            raise RecipeError(f"key 'suites' is empty; choose from {', '.join(SUITES)}")
        if len(set(self.suites)) != len(self.suites):
            raise RecipeError("key 'suites' lists a suite twice")
        if self.bootstrap_resamples < 0:
            raise RecipeError(f"key 'bootstrap_resamples' must be >= 0 (0: no intervals), "
                              f"got {self.bootstrap_resamples}")
        if self.limit is not None and self.limit < 1:
            raise RecipeError(f"key 'limit' must be >= 1 or null, got {self.limit}")
        for suite in ("social", "rationale"):
            n = getattr(self.data, suite).limit
            if n is not None and n < 1:
                raise RecipeError(f"key 'data.{suite}.limit' must be >= 1 or null, got {n}")


def expand_shortcuts(argv: Sequence[str]) -> list[str]:
    """`models=[a,b@proxy]` -> `models=[{ref: a, kind: genrm}, {ref: b, kind: proxy}]`."""
    out = []
    for a in argv:
        key, _, raw = a.partition("=")
        if key.lstrip("+") == "models" and raw.strip().startswith("["):
            try:
                items = yaml.safe_load(raw)
            except yaml.YAMLError:
                items = None
            if isinstance(items, list) and items and all(isinstance(x, str) for x in items):
                specs = []
                for ref in items:
                    base, at, kind = ref.rpartition("@")
                    if at and kind not in MODEL_KINDS and re.fullmatch(r"[A-Za-z_-]+", kind):
                        close = difflib.get_close_matches(kind, MODEL_KINDS, n=1)
                        hint = f"did you mean '@{close[0]}'? " if close else ""
                        raise RecipeError(f"models: unknown model kind '@{kind}' in {ref!r}; {hint}"
                                          f"kinds: {', '.join('@' + k for k in MODEL_KINDS)}")
                    specs.append({"ref": base, "kind": kind} if at and kind in MODEL_KINDS else {"ref": ref})
                a = f"{key}={yaml.safe_dump(specs, default_flow_style=True, width=10**6).strip()}"
        out.append(a)
    return out
