from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pytest

from genrm.config import RecipeError, cli_main, dump_recipe, load_recipe


@dataclass
class Item:
    name: str
    weight: float = 1.0


@dataclass
class Inner:
    method: Literal["rule", "llm", "none"] = "rule"
    max_units: int = 7
    backend: Optional[dict[str, Any]] = None


@dataclass
class Schema:
    name: str = "x"
    seed: int = 0
    out: str = "outputs/${name}"
    flag: bool = False
    lr: float = 1e-3
    limit: Optional[int] = None
    inner: Inner = field(default_factory=Inner)
    items: list[Item] = field(default_factory=list)

    def validate(self):
        if self.flag and self.limit is None:
            raise RecipeError("flag=true needs limit (set limit=N)")


@pytest.fixture
def recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\nseed: 0\nout: outputs/${name}\ninner:\n  method: rule\nitems:\n  - name: bbq\n    weight: 2\n")
    return str(p)


def test_overrides_and_types(recipe):
    cfg = load_recipe([f"recipe={recipe}", "seed=3", "inner.method=none", "items.0.weight=0.5", "lr=1"], Schema)
    assert cfg.seed == 3 and cfg.inner.method == "none" and cfg.items[0].weight == 0.5
    assert isinstance(cfg.items[0], Item) and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    # interpolation resolves after overrides; a str field keeps the override's text
    cfg = load_recipe([f"recipe={recipe}", "name=2024"], Schema)
    assert cfg.name == "2024" and cfg.out == "outputs/2024"
    cfg = load_recipe(["inner.backend={kind: openai, base_url: 'http://x'}"], Schema)
    assert cfg.inner.backend == {"kind": "openai", "base_url": "http://x"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["sead=3"], "unknown key 'sead' (did you mean 'seed'?)"),
        (["inner.methd=rule"], "unknown key 'inner.methd' (did you mean 'inner.method'?)"),
        (["items.0.wieght=1"], "unknown key 'items.0.wieght' (did you mean 'items.0.weight'?)"),
        (["seed=abc"], "key 'seed' must be an int, got 'abc'"),
        (["seed=1.5"], "key 'seed' must be an int"),
        (["flag=nope"], "key 'flag' must be a bool"),
        (["flag=1"], "key 'flag' must be a bool"),
        (["inner.method=rul"], "must be one of 'rule', 'llm', 'none' (did you mean 'rule'?)"),
        (["inner=5"], "key 'inner' must be a section"),
        (["items.5.name=x"], "index 5 is out of range"),
        (["=5"], "empty key"),
        (["oops"], "is not key=value"),
        (["seed=null"], "key 'seed' must be an int, not null"),
        (["flag=true"], "flag=true needs limit"),
        (["items=[{weight: 1}]"], "missing required key 'items.0.name'"),
    ],
)
def test_bad_overrides(recipe, args, message):
    with pytest.raises(RecipeError) as e:
        load_recipe([f"recipe={recipe}", *args], Schema)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sed: 1\n", "unknown key 'sed' (did you mean 'seed'?)"),
        ("inner:\n  max_unit: 3\n", "unknown key 'inner.max_unit'"),
        ("flag: yes_please\n", "key 'flag' must be a bool"),
        ("seed: '3'\n", "key 'seed' must be an int"),
        ("- a\n- b\n", "must be a mapping of keys, not a list"),
        ("out: ${nope}\n", "nope"),
        ("a: [1, 2\n", "r.yaml:2: invalid YAML"),
    ],
)
def test_bad_files(tmp_path, text, message):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(RecipeError) as e:
        load_recipe([f"recipe={p}"], Schema)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_paths(tmp_path):
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe([f"recipe={tmp_path}/nope.yaml"], Schema)
    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe([f"recipe={tmp_path}"], Schema)
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(RecipeError, match="not UTF-8"):
        load_recipe([f"recipe={p}"], Schema)


def test_dump_roundtrip(recipe, tmp_path):
    cfg = load_recipe([f"recipe={recipe}", "limit=4"], Schema)
    out = tmp_path / "recipe.yaml"
    dump_recipe(cfg, str(out))
    assert load_recipe([f"recipe={out}"], Schema) == cfg


def test_cli_main_one_line(recipe, capsys):
    rc = cli_main(lambda argv: load_recipe(argv, Schema) and 0, [f"recipe={recipe}", "sead=1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: unknown key 'sead'") and err.count("\n") == 1


def test_override_into_a_section_an_earlier_override_set(recipe):
    cfg = load_recipe([f"recipe={recipe}", "items=[{name: a}, {name: b}]", "items.1.weight=3", "inner={max_units: 4}",
                       "inner.method=none"], Schema)
    assert [(i.name, i.weight) for i in cfg.items] == [("a", 1.0), ("b", 3.0)]
    assert cfg.inner.max_units == 4 and cfg.inner.method == "none"
    with pytest.raises(RecipeError, match="index 5 is out of range"):
        load_recipe([f"recipe={recipe}", "items=[{name: a}]", "items.5.name=x"], Schema)
    with pytest.raises(RecipeError, match="'seed' is a value, not a section"):
        load_recipe([f"recipe={recipe}", "seed.x=1"], Schema)
