"""`--help` for the entry points, generated from their recipe schemas so that it cannot drift.

A schema is a plain `@dataclass` (see `genrm.config`). Its keys, their types and defaults
come from the dataclass itself; each key's one-line meaning is the comment written beside
the field (`ref: str = "x"  # a local path, hub id, ...`) or, without one, the comment
lines just above it. Nothing here imports torch or any other part of genrm: help is
printed in well under a second.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from typing import Any, Literal, Sequence, Union

HELP_FLAGS = ("-h", "--help")
_UNSET = object()


def wants_help(args: Sequence[str]) -> bool:
    return any(a in HELP_FLAGS for a in args)


def _class_notes(cls: type) -> dict[str, str]:
    try:
        src = textwrap.dedent(inspect.getsource(cls))
        tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (OSError, TypeError, tokenize.TokenError, IndentationError):
        return {}
    comments = {t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT}
    ends = sorted(t.start[0] for t in tokens if t.type == tokenize.NEWLINE)  # ends of logical lines
    lines = src.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("class ")), 0) + 1
    body = next((len(ln) - len(ln.lstrip()) for ln in lines[start:]
                 if ln.strip() and not ln.lstrip().startswith("#")), 4)
    names = {f.name for f in dataclasses.fields(cls)}
    notes: dict[str, str] = {}
    for no, line in enumerate(lines, 1):
        m = re.match(r"( *)(\w+)\s*:", line)
        if not m or len(m.group(1)) != body or m.group(2) not in names or m.group(2) in notes:
            continue
        end = next((e for e in ends if e >= no), no)
        beside = [comments[k] for k in range(no, end + 1) if k in comments]
        above: list[str] = []
        k = no - 1
        while k >= 1 and lines[k - 1].strip().startswith("#"):
            above.insert(0, comments.get(k, ""))
            k -= 1
        text = " ".join(beside) if beside else first_sentence(" ".join(above))
        notes[m.group(2)] = text.strip()
    return notes


def field_notes(cls: type) -> dict[str, str]:
    """The one-line meaning of each field of a dataclass (its base classes' fields too)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            out.update({k: v for k, v in _class_notes(klass).items() if v})
    return out


def _inner(tp: Any) -> tuple[bool, Any]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return True, (args[0] if len(args) == 1 else Union[tuple(args)])
    return False, tp


def type_name(tp: Any) -> str:
    """A short name for a schema type: `int`, `str|null`, `rule|llm|none`, `list[str]`."""
    optional, tp = _inner(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        name = "|".join(str(a) for a in typing.get_args(tp))
    elif origin in (list, tuple, Sequence):
        args = typing.get_args(tp)
        name = f"list[{type_name(args[0])}]" if args else "list"
    elif origin is dict or tp is dict:
        name = "mapping"
    elif origin in (Union, types.UnionType):
        name = "|".join(type_name(a) for a in typing.get_args(tp))
    elif dataclasses.is_dataclass(tp):
        name = "section"
    elif tp is Any:
        name = "any"
    else:
        name = {float: "number"}.get(tp, getattr(tp, "__name__", str(tp)))
    return name + ("|null" if optional else "")


def show_value(v: Any) -> str:
    """A default as it is typed in YAML: null, true, a plain string."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return v if v.strip() == v and v else repr(v)
    return repr(v) if not isinstance(v, (list, dict)) else re.sub(r"'", "", repr(v))


@dataclasses.dataclass
class Key:
    name: str
    type: str
    default: Any  # _UNSET: required
    note: str


def schema_keys(schema: type, prefix: str = "") -> list[Key]:
    """Every key of a schema, nested sections flattened (`model.ref`); a list of sections
    as `sources.N.<key>`."""
    hints = typing.get_type_hints(schema)
    notes = field_notes(schema)
    out: list[Key] = []
    for f in dataclasses.fields(schema):
        if not f.init:
            continue
        tp, name = hints[f.name], prefix + f.name
        _, inner = _inner(tp)
        if dataclasses.is_dataclass(inner):
            out += schema_keys(inner, name + ".")
            continue
        args = typing.get_args(inner)
        if typing.get_origin(inner) in (list, Sequence) and args and dataclasses.is_dataclass(args[0]):
            out.append(Key(name, "list[section]", [], notes.get(f.name, "")))
            out += schema_keys(args[0], name + ".N.")
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _UNSET
        out.append(Key(name, type_name(tp), default, notes.get(f.name, "")))
    return out


def keys_text(schema: type) -> str:
    """One line per key: name, type, default, meaning."""
    keys = schema_keys(schema)
    cells = [(k.name, k.type, "required" if k.default is _UNSET else f"= {show_value(k.default)}", k.note)
             for k in keys]
    w0 = min(44, max(len(c[0]) for c in cells))
    w1 = min(28, max(len(c[1]) for c in cells))
    w2 = min(30, max(len(c[2]) for c in cells))
    return "\n".join(f"  {a:<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}".rstrip() for a, b, c, d in cells)


def help_text(doc: str | None, schema: type | None, extra: str = "") -> str:
    """An entry point's help: its docstring (purpose and examples), then its recipe keys."""
    parts = [textwrap.dedent(doc or "").strip()]
    if schema is not None:
        parts.append("Recipe keys (set in recipe=<file.yaml>, or key=value on the command line; values are YAML,\n"
                     "nested keys are dotted, list items by index: sources.0.path=...):\n\n" + keys_text(schema))
    if extra:
        parts.append(extra.strip("\n"))
    parts.append("Options: -h/--help this help; --debug (or GENRM_DEBUG=1) a traceback instead of one error line.")
    return "\n\n".join(p for p in parts if p) + "\n"


def first_sentence(text: str) -> str:
    """Up to the first '.', '!' or '?' that ends a sentence ("et al." and "e.g." do not)."""
    return re.split(r"(?<![ .]al\.)(?<=[.!?])\s+(?=[A-Z`(])", text, maxsplit=1)[0]


def first_comment(path: str, width: int = 150) -> str:
    """The first sentence of a file's leading `# ...` comment (a recipe's summary), or ''."""
    words: list[str] = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                text = line.strip()
                if not text.startswith("#") or text.lstrip("#").startswith("  "):  # the end, or a command line
                    break
                words.append(text.lstrip("#").strip())
    except OSError:
        return ""
    joined = " ".join(w for w in words if w)
    sentence = first_sentence(joined)
    return sentence if len(sentence) <= width else sentence[: width - 3].rstrip() + "..."


__all__ = ["HELP_FLAGS", "wants_help", "show_value", "field_notes", "type_name", "schema_keys", "keys_text",
           "help_text", "first_sentence", "first_comment"]
