"""The package layout: no import cycles, dependencies one way, imports at module top.

Stages, lowest first: redact and help (leaves) < the shared utilities (config, outputs, assets) < staging
< backends < data < judge < reward < rlhf | evaluation < training < study, then testing, the old adapter
paths and the CLI. A module imports from its own package or from a lower stage only;
rlhf and evaluation do not import each other. Every `genrm` import inside a function
carries a `# lazy: <why>` comment on its line.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RANK = {"redact": -1, "help": -1, "config": 0, "outputs": 0, "staging": 0.5, "assets": 0, "backends": 1, "data": 2, "judge": 3, "reward": 4, "rlhf": 5,
        "evaluation": 5, "training": 6, "study": 7, "testing": 8, "adapters": 8, "cli": 8}


def module_names(root: Path) -> dict[str, Path]:
    out = {}
    for p in sorted((root / "genrm").rglob("*.py")):
        name = ".".join(p.relative_to(root).with_suffix("").parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = p
    return out


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported genrm module, line, inside a function) for every import statement in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in mods:
                t = t.rpartition(".")[0]
            if t.startswith("genrm") and t != name:
                found.append((t, node.lineno, id(node) in nested))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def graph_of(root: Path) -> dict[str, set[str]]:
    mods = module_names(root)
    return {m: {t for t, _, _ in imports_of(m, p, mods)} for m, p in mods.items()}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "genrm"


def test_no_import_cycles():
    found = cycles(graph_of(REPO))
    assert not found, "import cycles among genrm modules: " + "; ".join(" -> ".join(c) for c in found)


def test_the_cycle_check_finds_a_cycle(tmp_path):
    pkg = tmp_path / "genrm" / "x"
    pkg.mkdir(parents=True)
    (tmp_path / "genrm" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from genrm.x.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from genrm.x import c  # lazy: only here\n")
    (pkg / "c.py").write_text("from . import a\n")
    assert cycles(graph_of(tmp_path)) == [["genrm.x.a", "genrm.x.b", "genrm.x.c"]]
    (pkg / "c.py").write_text("")
    assert cycles(graph_of(tmp_path)) == []


def test_dependencies_run_one_way():
    mods = module_names(REPO)
    bad = []
    for m, p in mods.items():
        s = stage(m)
        for t, line, _ in imports_of(m, p, mods):
            u = stage(t)
            if s == "genrm" or u == s:
                continue
            if u == "genrm" or RANK[u] >= RANK[s]:
                bad.append(f"{p.relative_to(REPO)}:{line}: {m} ({s}) imports {t} ({u})")
    assert set(RANK) >= {stage(m) for m in mods} - {"genrm"}, "a new package needs a rank here"
    assert not bad, "imports against the stage order:\n" + "\n".join(bad)


def test_imports_at_module_top_unless_marked_lazy():
    mods = module_names(REPO)
    bad = []
    for m, p in mods.items():
        lines = p.read_text(encoding="utf-8").splitlines()
        for t, line, nested in imports_of(m, p, mods):
            if nested and "# lazy:" not in lines[line - 1]:
                bad.append(f"{p.relative_to(REPO)}:{line}: {t}")
    assert not bad, "genrm imports inside functions without a '# lazy: <why>' comment:\n" + "\n".join(bad)


def test_modules_stay_readable():
    long = {str(p.relative_to(REPO)): n for p in module_names(REPO).values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert not long, f"modules over about 400 lines: {long}"


def test_one_class_per_concept():
    defined: dict[str, list[str]] = {}
    for p in module_names(REPO).values():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                defined.setdefault(node.name, []).append(str(p.relative_to(REPO)))
    for name in ("JudgeConfig", "RewardConfig", "Comparison", "Group", "DataConfig"):
        assert len(defined.get(name, [])) <= 1, f"{name} is defined in {defined[name]}"
    for name in ("JudgeConfig", "RewardConfig", "Comparison"):
        assert len(defined.get(name, [])) == 1, f"{name} should exist once, found {defined.get(name)}"


def test_verdict_text_is_written_only_by_the_judge_package():
    pattern = re.compile(r"\\\\boxed\{|\\boxed\{|<answer>")
    bad = []
    for p in module_names(REPO).values():
        rel = p.relative_to(REPO)
        if rel.parts[:2] == ("genrm", "judge"):
            continue
        for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                bad.append(f"{rel}:{k}: {line.strip()}")
    assert not bad, "verdict literals outside genrm/judge/:\n" + "\n".join(bad)


# -- public paths: what the README and docs/ name, and the old adapter paths users' configs name

def readme_names() -> tuple[set[str], set[str]]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    dotted = set(re.findall(r"(?<![\w./-])(genrm(?:\.\w+)+)", text))
    paths = set(re.findall(r"(?<![\w./-])(genrm/[\w/]+\.(?:py|jinja))", text))
    return dotted, paths


def _resolve(dotted: str):
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ModuleNotFoundError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_public_path_in_the_readme_imports():
    dotted, paths = readme_names()
    assert len(dotted) > 10 and len(paths) > 10, "the README names fewer paths than expected: is the regex right?"
    failed = []
    for name in sorted(dotted):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as e:
            failed.append(f"{name}: {e}")
    failed += [f"{p}: no such file" for p in sorted(paths) if not (REPO / p).is_file()]
    assert not failed, "README names paths that do not exist:\n" + "\n".join(failed)


def test_old_adapter_paths_keep_working():
    from genrm.rlhf import openrlhf, trl, verl

    assert importlib.import_module("genrm.adapters.trl").GenRMReward is trl.GenRMReward
    old_verl = importlib.import_module("genrm.adapters.verl")  # pkg://genrm.adapters.verl
    assert old_verl.compute_score is verl.compute_score and old_verl.compute_score_async is verl.compute_score_async
    # OpenRLHF loads `reward_func` from a file path (`--reward.remote_url .../genrm/adapters/openrlhf.py`).
    spec = importlib.util.spec_from_file_location("openrlhf_reward", REPO / "genrm" / "adapters" / "openrlhf.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.reward_func is openrlhf.reward_func


@pytest.mark.parametrize("script", sorted(str(p.relative_to(REPO)) for d in ("train", "evaluate", "data_prep")
                                          for p in (REPO / d).glob("*.py")))
def test_entry_scripts_stay_thin(script):
    n = len((REPO / script).read_text(encoding="utf-8").splitlines())
    assert n < 60, f"{script} has {n} lines; the library holds the work"
