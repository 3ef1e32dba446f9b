"""Recipes: plain YAML, overridden from the command line with `key=value` (OmegaConf).

    python data_prep/build.py recipe=recipes/data/embedded_default.yaml seed=1 sources.0.max_records=100
"""

from __future__ import annotations

import os

import yaml
from typing import Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class RecipeError(ValueError):
    pass


def load_recipe(argv: Sequence[str], defaults: dict | None = None) -> DictConfig:
    """`recipe=<path>` plus `key=value` overrides. Unknown keys are errors (typos must not pass silently);
    a new key can be added on purpose with a leading `+`."""
    args = list(argv)
    recipe = None
    overrides = []
    for a in args:
        if a.startswith("recipe="):
            recipe = a.split("=", 1)[1]
        elif "=" in a:
            overrides.append(a)
        else:
            raise RecipeError(f"argument {a!r} is not key=value (usage: recipe=<path.yaml> key=value ...)")
    if recipe is None:
        raise RecipeError("missing recipe=<path.yaml>")
    if not os.path.exists(recipe):
        raise RecipeError(f"recipe not found: {recipe}")
    try:
        base = OmegaConf.create(defaults or {})
        cfg = OmegaConf.merge(base, OmegaConf.load(recipe))
    except (OmegaConfBaseException, yaml.YAMLError) as e:
        raise RecipeError(f"{recipe}: {e}") from None
    missing = object()
    for o in overrides:
        key, raw = o.split("=", 1)
        add = key.startswith("+")
        key = key.lstrip("+")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as e:
            raise RecipeError(f"override {o!r}: value is not valid YAML ({e})") from None
        if not add and OmegaConf.select(cfg, key, default=missing) is missing:
            raise RecipeError(f"unknown key {key!r} in override {o!r} (prefix it with '+' to add a new key)")
        try:
            OmegaConf.update(cfg, key, value, merge=True)
        except OmegaConfBaseException as e:
            raise RecipeError(f"override {o!r}: {e}".split("\n")[0]) from None
    return cfg


def to_container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
