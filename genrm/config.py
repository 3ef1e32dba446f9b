"""Recipes: plain YAML plus `key=value` overrides, validated against a typed schema.

    python train/genrm.py recipe=recipes/smoke_cpu.yaml grpo.max_steps=4 seed=1

A schema is a plain `@dataclass` (nested dataclasses, `list[Dataclass]`, `Literal[...]`
choices, `Optional[...]`, `dict[str, Any]` for free-form parts). `load_recipe` reads the
YAML with OmegaConf (so `${name}` interpolation works), applies the overrides, and builds
the dataclass. Every problem is one `RecipeError` line naming the key:

* an unknown key at any depth, in the file or an override, with a did-you-mean;
* a wrong type: a bool must be a YAML bool (`true`), an int an int (`5`, not `5.0` or
  `"5"`), a float any number;
* a value outside a `Literal` choice, with a did-you-mean;
* an impossible combination: a schema's `validate()` raises `RecipeError` naming the keys.

Overrides use TRL/OmegaConf conventions: `a.b=1`, list items by index (`sources.0.x=1`),
values parsed as YAML (`flag=true`, `xs=[1,2]`, `name=null`). A `str` field takes an
override's raw text as is (`name=2024` is the string "2024").
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import types
import typing
from typing import Any, Callable, Literal, Sequence, TypeVar, Union

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genrm.help import help_text, wants_help
from genrm.redact import redact_strings

T = TypeVar("T")


class RecipeError(ValueError):
    """A recipe or override is invalid. The message is one line and names the key."""


# ----------------------------------------------------------------------------- argv


def _split_argv(argv: Sequence[str]) -> tuple[str | None, list[tuple[str, str]]]:
    recipe, overrides = None, []
    for a in argv:
        if "=" not in a:
            raise RecipeError(f"argument {a!r} is not key=value (usage: recipe=<path.yaml> key=value ...)")
        key, raw = a.split("=", 1)
        key = key.lstrip("+")  # '+' (Hydra's "add a key") is accepted; the schema decides what exists
        if not key or any(not part for part in key.split(".")):
            raise RecipeError(f"argument {a!r} has an empty key (usage: key=value)")
        if key == "recipe":
            recipe = raw
        else:
            overrides.append((key, raw))
    return recipe, overrides


def _read_yaml(path: str) -> DictConfig:
    if not os.path.exists(path):
        raise RecipeError(f"recipe not found: {path}")
    if os.path.isdir(path):
        raise RecipeError(f"recipe {path} is a directory, not a YAML file")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise RecipeError(f"{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of keys, not a {type(data).__name__}")
    try:
        return OmegaConf.create(data)
    except OmegaConfBaseException as e:
        raise RecipeError(f"{path}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return str(e).strip().split("\n")[0]


def _parse_value(key: str, raw: str) -> Any:
    if raw == "":
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw  # not YAML: keep the text (a str field may want it; others will say so)


def _apply_override(cfg: Any, key: str, raw: str) -> None:
    """Set `key` (dotted, list items by index) in a plain nested dict/list."""
    parts = key.split(".")
    node = cfg
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.lstrip("-").isdigit():
                raise RecipeError(f"override {key}: '{'.'.join(parts[:i]) or key}' is a list; index it with a number")
            idx = int(part)
            if not -len(node) <= idx < len(node):
                raise RecipeError(f"override {key}: index {idx} is out of range ('{'.'.join(parts[:i])}' has {len(node)} items)")
        elif isinstance(node, dict):
            idx = part
        else:
            raise RecipeError(f"override {key}: '{'.'.join(parts[:i])}' is a value, not a section")
        if last:
            node[idx] = _Raw(raw)
            return
        child = node.get(idx) if isinstance(node, dict) else node[idx]
        if child is None:
            child = {}
        elif isinstance(child, _Raw):  # an earlier override set the whole section (`xs=[...]`)
            parsed = _parse_value(key, str(child))
            child = parsed if isinstance(parsed, (dict, list)) else child
        node[idx] = child
        node = child


class _Raw(str):
    """An override's text, kept until the schema says which type the field wants."""


# --------------------------------------------------------------------------- schema


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    if _origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return True, (args[0] if len(args) == 1 else Union[tuple(args)])
    return False, tp


def _describe(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "a section (mapping)"
    if _origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if _origin(tp) in (list, Sequence, tuple):
        return "a list"
    if _origin(tp) is dict or tp is dict:
        return "a mapping"
    names = {bool: "a bool (true/false)", int: "an int", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    if _origin(tp) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def did_you_mean(word: str, choices: Sequence[str], prefix: str = "") -> str:
    """" (did you mean '<prefix><x>'?)" for the closest of `choices`, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _convert(value: Any, tp: Any, key: str) -> Any:
    """`value` checked (strictly) and converted to `tp`; `key` names it in errors."""
    raw = isinstance(value, _Raw)
    if raw:
        if tp is str or (_is_optional(tp)[1] is str and value != "null"):
            return str(value)
        value = _parse_value(key, str(value))
    optional, inner = _is_optional(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise RecipeError(f"key '{key}' must be {_describe(tp)}, not null")
    tp = inner
    if tp is Any:
        return _strip_raw(value)  # overrides nested inside free-form parts become plain values too
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecipeError(f"key '{key}' must be {_describe(tp)}, got {value!r}")
        return _build(tp, value, key)
    origin = _origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices if c == value):
            raise RecipeError(
                f"key '{key}' is {value!r}; must be {_describe(tp)}" + did_you_mean(value, [str(c) for c in choices])
            )
        return value
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"key '{key}' must be a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_convert(v, item_tp, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"key '{key}' must be a mapping, got {value!r}")
        args = typing.get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if origin in (Union, types.UnionType):
        for alt in typing.get_args(tp):
            try:
                return _convert(value, alt, key)
            except RecipeError:
                continue
        raise RecipeError(f"key '{key}' must be {_describe(tp)}, got {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"key '{key}' must be a bool (true or false), got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"key '{key}' must be an int, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise RecipeError(f"key '{key}' must be a string, got {value!r} (quote it in YAML)")
        return value
    raise RecipeError(f"key '{key}': unsupported schema type {tp!r}")  # a schema bug, not user input


def _build(schema: type[T], data: dict, prefix: str = "") -> T:
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    for k in data:
        if k not in fields:
            where = f"{prefix}.{k}" if prefix else str(k)
            raise RecipeError(f"unknown key '{where}'{did_you_mean(k, list(fields), prefix + '.' if prefix else '')}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"missing required key '{key}'")
    obj = schema(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def from_dict(schema: type[T], data: dict, prefix: str = "") -> T:
    """A schema instance from a plain dict, with the same checks as a recipe file."""
    return _build(schema, data, prefix)


# ----------------------------------------------------------------------------- load


def load_recipe(argv: Sequence[str], schema: type[T]) -> T:
    """`recipe=<path.yaml>` plus `key=value` overrides -> a validated `schema` instance.
    Without `recipe=`, the schema's defaults and the overrides alone make the recipe."""
    recipe, overrides = _split_argv(argv)
    cfg = _read_yaml(recipe) if recipe is not None else OmegaConf.create({})
    try:
        plain = OmegaConf.to_container(cfg, resolve=False)
    except OmegaConfBaseException as e:
        raise RecipeError(f"{recipe}: {_first_line(e)}") from None
    for key, raw in overrides:
        _apply_override(plain, key, raw)
    _one_of_overrides(plain, schema, {k for k, raw in overrides if raw.strip() not in ("null", "~", "")})
    # Interpolation (`${name}`) resolves after the overrides, so they take part in it.
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(_strip_raw(plain)), resolve=True)
    except OmegaConfBaseException as e:
        raise RecipeError(f"{recipe or 'overrides'}: {_interp_message(e)}") from None
    resolved = _restore_raw(plain, resolved)
    return _build(schema, resolved)


def _one_of_overrides(plain: dict, schema: type, given: set[str], prefix: str = "") -> None:
    """A section's `ONE_OF` groups (a ClassVar of key-name tuples, e.g. data.path / data.build):
    an override that sets one key of a group clears the others the recipe file set, unless
    an override sets them too. (Overriding one by the other is the user's intent.)"""
    for group in getattr(schema, "ONE_OF", ()):
        if any(prefix + k in given for k in group):
            for k in group:
                if prefix + k not in given and plain.get(k) is not None:
                    plain[k] = None
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        tp = _is_optional(hints[f.name])[1]
        if dataclasses.is_dataclass(tp) and isinstance(plain.get(f.name), dict):
            _one_of_overrides(plain[f.name], tp, given, f"{prefix}{f.name}.")


def one_of(section: Any, prefix: str, names: tuple[str, str], what_a: str, what_b: str) -> None:
    """Exactly one of two keys of a section is set; the error says which override to add."""
    a, b = (f"{prefix}.{n}" for n in names)
    va, vb = (getattr(section, n) for n in names)
    if va is not None and vb is not None:
        raise RecipeError(f"{a} and {b} are both set ({a}={va}, {b}={vb}): add {b}=null to use {a}, "
                          f"or {a}=null to use {b} (on the command line, setting one replaces the recipe's other)")
    if va is None and vb is None:
        raise RecipeError(f"set {a}=<{what_a}> or {b}=<{what_b}>")


def _strip_raw(x: Any) -> Any:
    if isinstance(x, _Raw):
        v = _parse_value("", str(x))
        return v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(x)
    if isinstance(x, dict):
        return {k: _strip_raw(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_strip_raw(v) for v in x]
    return x


def _restore_raw(plain: Any, resolved: Any) -> Any:
    """Overrides come back as `_Raw` text so str fields keep what was typed."""
    if isinstance(plain, _Raw):
        if isinstance(resolved, str) and "${" in plain:
            return resolved
        return plain
    if isinstance(plain, dict) and isinstance(resolved, dict):
        return {k: _restore_raw(plain.get(k), v) for k, v in resolved.items()}
    if isinstance(plain, list) and isinstance(resolved, list):
        return [_restore_raw(p, r) for p, r in zip(plain, resolved)]
    return resolved


def _interp_message(e: OmegaConfBaseException) -> str:
    key = getattr(e, "full_key", None)
    msg = _first_line(e)
    return f"key '{key}': {msg}" if key else msg


def to_dict(obj: Any) -> dict:
    """A schema instance as plain data (for saving and logging)."""
    return dataclasses.asdict(obj)


def recipe_yaml(obj: Any) -> str:
    """The fully resolved recipe as YAML text (URLs with credentials without them)."""
    return yaml.safe_dump(redact_strings(to_dict(obj)), sort_keys=False, allow_unicode=True)


def dump_recipe(obj: Any, path: str) -> None:
    """Write the fully resolved recipe as YAML (loadable again with `recipe=<path>`; URLs
    with credentials are written without them)."""
    with open(path, "w", encoding="utf-8") as f:  # credentials in URLs never reach the file
        f.write(recipe_yaml(obj))


# ------------------------------------------------------------------------------ CLI


def cli_main(fn: Callable[[list[str]], int | None], argv: Sequence[str] | None = None,
             errors: tuple[type[BaseException], ...] = (), *, schema: type | None = None,
             doc: str | None = None, extra_help: Callable[[], str] | None = None) -> int:
    """Run an entry point: user errors (RecipeError, ValueError subclasses passed in
    `errors`, OSError) become one `error: ...` line and exit code 2. Set GENRM_DEBUG=1
    (or pass --debug) for the traceback. `-h`/`--help` prints `doc` (purpose, examples)
    and the keys of `schema` (genrm.help), and runs nothing."""
    args = list(sys.argv[1:] if argv is None else argv)
    if wants_help(args) and (schema is not None or doc):
        print(help_text(doc, schema, extra_help() if extra_help else ""), end="")
        return 0
    debug = os.environ.get("GENRM_DEBUG", "") not in ("", "0") or "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        return int(fn(args) or 0)
    except (RecipeError, *errors) as e:  # noqa: B030
        if debug:
            raise
        print(f"error: {_first_line(e)}", file=sys.stderr)
        return 2


__all__ = ["RecipeError", "load_recipe", "from_dict", "to_dict", "dump_recipe", "cli_main", "did_you_mean", "one_of",
           "recipe_yaml"]
