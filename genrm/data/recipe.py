"""The data-build recipe schema (`data_prep/build.py recipe=recipes/data/<name>.yaml key=value ...`)
and the checks of its sources that run before anything loads."""

from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from genrm.config import RecipeError, did_you_mean, from_dict
from genrm.data.rows import looks_like_hub_id
from genrm.help import show_value
from genrm.data.sources import SOURCES, get_source


@dataclass
class UnitsConfig:
    method: Literal["rule", "llm", "none"] = "rule"  # how rationale text becomes units: sentence rules, an LLM, or not
    min_units: int = 3  # method=llm: fewest units a decomposition may return
    max_units: int = 7  # most units kept per record
    max_retries: int = 2  # method=llm: retries of a decomposition that does not parse
    on_failure: Literal["error", "rule"] = "error"  # method=llm: stop, or fall back to the rule splitter
    backend: Optional[dict[str, Any]] = None  # for method=llm: a `make_backend` config


@dataclass
class SourceSpec:
    name: str  # the source's format: generic, helpsteer3, bbq, ... (listed below)
    path: Optional[str] = None  # a local file or directory, or a hub id
    max_records: Optional[int] = None  # keep at most this many records of it (seeded sample)
    weight: float = 1.0  # its share of total_records; without a total, below 1 keeps that fraction
    options: dict[str, Any] = field(default_factory=dict)  # the source's own options (listed below)


@dataclass
class BuildRecipe:
    """The data-build recipe schema (`data_prep/build.py recipe=...`)."""

    name: str = "mixture"  # the build's name (in output_dir and the data card)
    seed: int = 0  # sampling, A/B placement and the split
    output_dir: str = "outputs/data/${name}"  # where the build goes
    overwrite: bool = False  # replace an earlier build in output_dir (only ever a directory a build wrote)
    eval_fraction: float = 0.1  # records in the eval split (split by prompt: no prompt on both sides)
    total_records: Optional[int] = None  # with weights: share of each source in the mixture
    position_balance: bool = True  # half the records show the chosen response as A, half as B
    units: UnitsConfig = field(default_factory=UnitsConfig)
    sources: list[SourceSpec] = field(default_factory=list)  # the data to read, each one a source

    def validate(self) -> None:
        """Value ranges and combinations the types alone do not catch; each names its key."""
        if not self.sources:
            raise RecipeError("the recipe lists no sources (key 'sources')")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise RecipeError(f"key 'eval_fraction' must be in [0, 1), got {self.eval_fraction}")
        if self.total_records is not None and self.total_records <= 0:
            raise RecipeError(f"key 'total_records' must be a positive integer, got {self.total_records}")
        u = self.units
        if not 1 <= u.min_units <= u.max_units:
            raise RecipeError(f"keys 'units.min_units' and 'units.max_units' need 1 <= min <= max, "
                              f"got {u.min_units} and {u.max_units}")
        if u.max_retries < 0:
            raise RecipeError(f"key 'units.max_retries' must be >= 0, got {u.max_retries}")
        if u.method == "llm" and not u.backend:
            raise RecipeError("units.method=llm needs units.backend (e.g. {kind: openai, base_url: ..., model: ...})")
        for i, s in enumerate(self.sources):
            key = f"sources.{i}"
            if s.name not in SOURCES:
                raise RecipeError(f"key '{key}.name': unknown source {s.name!r}{did_you_mean(s.name, list(SOURCES))}; "
                                  f"known sources: {', '.join(sorted(SOURCES))}")
            if not s.weight > 0:
                raise RecipeError(f"key '{key}.weight' must be a positive number, got {s.weight}")
            if s.max_records is not None and s.max_records <= 0:
                raise RecipeError(f"key '{key}.max_records' must be a positive integer, got {s.max_records}")




def source_options(name: str) -> list[str]:
    """The options a source takes: its loader's keyword-only parameters (`stats` aside)."""
    params = inspect.signature(get_source(name)).parameters
    return [n for n, p in params.items() if n != "stats" and p.kind is inspect.Parameter.KEYWORD_ONLY]


def sources_help() -> str:
    """The sources a data recipe can name (sources.N.name), each with its options."""
    lines = ["Sources (sources.N.name) and their options (sources.N.options.<option>=default):", ""]
    for name in SOURCES:
        params = inspect.signature(get_source(name)).parameters
        opts = ", ".join(f"{n}={show_value(params[n].default)}" for n in source_options(name))
        lines.append(f"  {name:<20}  {opts or '(no options)'}")
    return "\n".join(lines)


def check_source(spec: SourceSpec, i: int) -> None:
    """Before anything loads: the path exists (or is a hub id) and the options are ones
    the source takes, of the right types (the loader's signature is their schema)."""
    key = f"sources.{i}"
    load = get_source(spec.name)
    params = inspect.signature(load).parameters
    if spec.path is None:
        first = next(iter(params.values()), None)
        if first is not None and first.default is inspect.Parameter.empty:
            raise RecipeError(f"key '{key}.path' is required for source '{spec.name}'")
    elif not spec.path.strip():
        raise RecipeError(f"key '{key}.path' is empty")
    elif not os.path.exists(spec.path) and not looks_like_hub_id(spec.path):
        where = "" if os.path.isabs(spec.path) else f" (relative paths are read from the current directory, {os.getcwd()})"
        raise RecipeError(f"key '{key}.path': {spec.path} not found{where}")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    try:
        hints = typing.get_type_hints(load)
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate: check names only
        hints = {}
    names = source_options(spec.name)
    for k in spec.options:
        if k not in names:
            raise RecipeError(f"unknown key '{key}.options.{k}'{did_you_mean(k, names, f'{key}.options.')}; source '{spec.name}' "
                              f"takes: {', '.join(names) or 'no options'}")
    opts = dataclasses.make_dataclass(
        "options", [(n, hints.get(n, Any), dataclasses.field(default=params[n].default)) for n in names]
    )
    from_dict(opts, dict(spec.options), prefix=f"{key}.options")
