"""The `genrm` command: `genrm <subcommand> ...`; `genrm --help` lists the subcommands.

    genrm train recipe=recipes/smoke_cpu.yaml       # accelerate launch train/genrm.py ...
    genrm serve judge.backend.model=outputs/train/<run> strategy.name=reference
    genrm recipes                                   # the shipped recipes, one line each
    genrm keys train                                # every key of a recipe: type, default, meaning

Help (`--help`, `-h`, `genrm keys`) is generated from the recipe schemas and imports no torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from typing import Any

from genrm.config import did_you_mean
from genrm.help import first_comment, help_text, keys_text, wants_help

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = {"serve": "genrm.rlhf.server", "train": "genrm.training.launch"}  # subcommands that run something
# Entry points with a recipe: (what it does, its script in the checkout or `module:Schema`).
ENTRIES = {
    "train": ("train a GenRM: SFT, then GRPO on the hybrid reward (accelerate launch train/genrm.py)",
              "train/genrm.py"),
    "serve": ("serve a GenRM as an HTTP reward (OpenRLHF's /get_reward, /score)", "genrm.rlhf.server:ServeConfig"),
    "build": ("build preference records from data sources (python data_prep/build.py)", "data_prep/build.py"),
    "evaluate": ("evaluate reward models on the benchmark suites (python evaluate/run.py)", "evaluate/run.py"),
    "rescore": ("recompute the metrics from saved per-item results (python evaluate/rescore.py)",
                "evaluate/rescore.py"),
    "compare": ("print evaluation runs' results tables side by side (python evaluate/compare.py)",
                "evaluate/compare.py"),
    "policy": ("train a policy with GRPO, a GenRM as its reward (python train/policy_grpo.py)", "train/policy_grpo.py"),
    "study": ("the arms x seeds study of GenRM rewards (python train/study.py)", "train/study.py"),
}
# Which entry point reads the recipes of a folder under recipes/.
RECIPE_USERS = {"": "train/genrm.py", "data": "data_prep/build.py", "eval": "evaluate/run.py", "serve": "genrm serve",
                "study": "train/study.py"}
TRAIN_USAGE = ("usage: genrm train [--config_file accelerate_configs/<x>.yaml] [--num_processes N] "
               "recipe=<recipe.yaml> [key=value ...]\n"
               "  recipes: genrm recipes;  keys: genrm keys train;  help: genrm train --help")


class EntryError(ValueError):
    pass


def entry(name: str) -> tuple[str | None, Any, str]:
    """(docstring, schema, extra help) of an entry point, read without running it."""
    where = ENTRIES[name][1]
    if ":" in where:
        mod_name, attr = where.split(":")
        mod = importlib.import_module(mod_name)
        return mod.__doc__, getattr(mod, attr), ""
    path = os.path.join(REPO, where)
    if not os.path.isfile(path):
        raise EntryError(f"{where} not found (the entry scripts are in a source checkout of genrm)")
    spec = importlib.util.spec_from_file_location(f"_genrm_entry_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # where inspect finds a class's source (the key meanings)
    spec.loader.exec_module(mod)  # the scripts import their schema only; the work is in main()
    extra = getattr(mod, "EXTRA_HELP", None)
    return mod.__doc__, mod.SCHEMA, extra() if extra else ""


def usage() -> str:
    width = max(map(len, [*ENTRIES, "recipes", "keys"]))
    lines = ["usage: genrm <command> [key=value ...]   (genrm <command> --help for its keys and examples)", "",
             "commands:"]
    lines += [f"  {n:<{width}}  {ENTRIES[n][0]}" for n in RUN]
    lines += [f"  {'recipes':<{width}}  list the shipped recipes (recipes/**/*.yaml) with their first comment line",
              f"  {'keys':<{width}}  genrm keys <{'|'.join(ENTRIES)}>: every recipe key, its type, default and meaning",
              "", "entry scripts (each answers --help):"]
    lines += [f"  {n:<{width}}  {ENTRIES[n][0]}" for n in ENTRIES if n not in RUN]
    return "\n".join(lines)


def recipes_text(root: str = os.path.join(REPO, "recipes")) -> str:
    if not os.path.isdir(root):
        raise EntryError(f"{root} not found (the recipes are in a source checkout of genrm)")
    out: list[str] = []
    folders = {os.path.relpath(d, root) for d, _, fs in os.walk(root) if any(f.endswith(".yaml") for f in fs)}
    for folder in sorted(folders):
        sub = "" if folder == "." else folder
        files = sorted(f for f in os.listdir(os.path.join(root, sub)) if f.endswith(".yaml"))
        user = RECIPE_USERS.get(sub, "")
        out.append(f"{os.path.join('recipes', sub, '')}  ({user})" if user else os.path.join("recipes", sub, ""))
        width = max(map(len, files))
        for f in files:
            path = os.path.join(root, sub, f)
            with open(path, encoding="utf-8") as fh:
                policy = re.search(r"^policy:", fh.read(), re.M) is not None
            tag = "(train/policy_grpo.py) " if policy and not sub else ""
            out.append(f"  {f:<{width}}  {tag}{first_comment(path)}")
        out.append("")
    return "\n".join(out).rstrip("\n")


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(usage(), file=sys.stderr)
        return 2
    cmd, rest = args[0], args[1:]
    try:
        if cmd in ("-h", "--help", "help"):
            print(usage())
            return 0
        if cmd == "recipes":
            print(recipes_text())
            return 0
        if cmd == "keys":
            if len(rest) != 1 or rest[0] not in ENTRIES:
                hint = did_you_mean(rest[0], list(ENTRIES)) if len(rest) == 1 else ""
                return _error(f"usage: genrm keys <{'|'.join(ENTRIES)}>{hint}")
            _, schema, extra = entry(rest[0])
            print(keys_text(schema) + (f"\n\n{extra}" if extra else ""))
            return 0
        if cmd not in RUN:
            return _error(f"unknown command {cmd!r}{did_you_mean(cmd, [*RUN, 'recipes', 'keys'])}; "
                          "genrm --help lists the commands")
        if wants_help(rest):
            doc, schema, extra = entry(cmd)
            print(help_text(doc, schema, extra), end="")
            return 0
    except EntryError as e:
        return _error(str(e))
    if cmd == "train" and not any("=" in a and not a.startswith("--") for a in rest):
        print(TRAIN_USAGE, file=sys.stderr)
        return 2
    return importlib.import_module(RUN[cmd]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
