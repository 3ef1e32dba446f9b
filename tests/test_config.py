import pytest

from genrm.config import RecipeError, load_recipe, to_container


@pytest.fixture
def recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\nseed: 0\nunits:\n  method: rule\nsources:\n  - name: bbq\n    max_records: 5\n")
    return str(p)


def test_overrides(recipe):
    cfg = to_container(load_recipe([f"recipe={recipe}", "seed=3", "units.method=none", "sources.0.max_records=9"]))
    assert cfg["seed"] == 3 and cfg["units"]["method"] == "none" and cfg["sources"][0]["max_records"] == 9


def test_defaults_and_interpolation(recipe):
    cfg = to_container(load_recipe([f"recipe={recipe}"], defaults={"out": "outputs/${name}", "seed": 1}))
    assert cfg["out"] == "outputs/x" and cfg["seed"] == 0


def test_unknown_key_is_an_error(recipe):
    with pytest.raises(RecipeError, match="unknown key .sead."):
        load_recipe([f"recipe={recipe}", "sead=3"])
    cfg = to_container(load_recipe([f"recipe={recipe}", "+extra.key=1"]))
    assert cfg["extra"]["key"] == 1


def test_bad_arguments(recipe, tmp_path):
    with pytest.raises(RecipeError, match="missing recipe"):
        load_recipe(["seed=1"])
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe([f"recipe={tmp_path}/nope.yaml"])
    with pytest.raises(RecipeError, match="is not key=value"):
        load_recipe([f"recipe={recipe}", "oops"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(RecipeError, match="bad.yaml"):
        load_recipe([f"recipe={bad}"])
