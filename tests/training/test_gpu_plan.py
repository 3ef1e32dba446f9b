"""The GPU plan against hand arithmetic, on config-only Qwen3 directories with the published
shapes (tests/fixtures/models): no weights, no data, no GPU."""

import subprocess
import sys

import pytest
from transformers import AutoConfig

from genrm.config import RecipeError, load_recipe
from genrm.training import gpu_plan as gp
from genrm.training.launch import launch_env
from genrm.training.plan import preflight
from genrm.training.recipe import TrainRecipe
from tests.training.conftest import REPO, run_train

MODELS = REPO / "tests" / "fixtures" / "models"
GIB = 2**30
Q14_PARAMS = 40 * (2 * 5120 * 5120 + 2 * 5120 * 1024 + 3 * 5120 * 17408 + 2 * 5120 + 2 * 128) + 2 * 151936 * 5120 + 5120
MOE_PARAMS = 48 * (2 * 2048 * 4096 + 2 * 2048 * 512 + 128 * 3 * 2048 * 768 + 2048 * 128 + 2 * 2048 + 2 * 128) \
    + 2 * 151936 * 2048 + 2048
ZERO3_8 = gp.Launch(world=8, sharding="zero3")
# The paper recipes as first written (issue 21, defects 2-3): vLLM at 0.4, the model's own length, TP 1, awake
BROKEN = ["vllm_gpu_memory_utilization=0.4", "vllm_max_model_length=null", "vllm_tensor_parallel_size=1",
          "vllm_enable_sleep_mode=false"]
# A 14B GRPO setting that fits 8x80 GiB under ZeRO-3: micro-batch 1, vLLM at TP 2 and the run's length
FITS = ["grpo.per_device_train_batch_size=1", "grpo.gradient_accumulation_steps=128", "vllm_tensor_parallel_size=2",
        "vllm_max_model_length=20480", "vllm_gpu_memory_utilization=0.3", "vllm_enable_sleep_mode=false"]


def _plan(recipe: str, model: str, *overrides: str, launch: gp.Launch = ZERO3_8, gib: float = 80.0) -> gp.GpuPlan:
    r = load_recipe([f"recipe={REPO / 'recipes' / recipe}", f"model.ref={MODELS / model}", *overrides], TrainRecipe)
    return gp.gpu_plan(r, gp.model_shape(AutoConfig.from_pretrained(MODELS / model)), launch, gib, "test")


def _term(plan: gp.GpuPlan, stage: str, name: str) -> float:
    return next(t.bytes for t in plan.stages[stage] if t.name == name)


@pytest.fixture(scope="module")
def shapes():
    return {m: gp.model_shape(AutoConfig.from_pretrained(MODELS / m)) for m in ("qwen3-14b", "qwen3-30b-a3b")}


def test_shapes_from_config(shapes):
    assert shapes["qwen3-14b"].params == Q14_PARAMS == 14_768_307_200
    assert shapes["qwen3-30b-a3b"].params == MOE_PARAMS
    assert gp.layer_elements(shapes["qwen3-14b"]) == 4 * 5120 + 4 * 5120 + 4 * 1024 + 4 * 17408
    # MoE: 8 experts of width 768 a token, and the token copied to each
    assert gp.layer_elements(shapes["qwen3-30b-a3b"]) == 4 * 2048 + 4 * 4096 + 4 * 512 + 4 * 8 * 768 + 8 * 2048


def test_14b_colocate_at_04_with_full_length_refused():
    plan = _plan("hybrid_qwen3_14b.yaml", "qwen3-14b", *BROKEN)
    budget = 0.4 * 80 * GIB
    kv_left = budget - Q14_PARAMS * 2 - gp.VLLM_OVERHEAD_GIB * GIB  # about 2.5 GiB
    per_token = 2 * 40 * 8 * 128 * 2  # K and V, 40 layers, 8 KV heads of 128, bf16: 160 KiB
    assert kv_left < 40960 * per_token  # 6.25 GiB for one 40,960-token sequence
    assert plan.refusal.startswith("GPU plan: vLLM colocate does not fit")
    assert "vllm_max_model_length=40960" in plan.refusal and "vllm_max_model_length=20480" in plan.refusal
    assert f"leave {kv_left / GIB:.1f} GiB" in plan.refusal
    with pytest.raises(RecipeError, match="vllm_tensor_parallel_size=2"):
        plan.check()


def test_30b_a3b_colocate_tp1_refused():
    plan = _plan("hybrid_qwen3_30b_a3b.yaml", "qwen3-30b-a3b", *BROKEN)
    weights = MOE_PARAMS * 2  # bf16, 56.9 GiB: over the whole 32 GiB budget
    assert weights > 0.4 * 80 * GIB
    assert f"weights ({weights / GIB:.1f} GiB at vllm_tensor_parallel_size=1)" in plan.refusal
    # TP 2 leaves 32 - 28.4 - 2 = 1.6 GiB, under 40,960 x 48 KiB = 1.875 GiB; TP 4 is the first that holds one
    assert 0.4 * 80 * GIB - weights / 2 - 2 * GIB < 40960 * 2 * 48 * 2 * 128 * 2
    assert "vllm_tensor_parallel_size=4" in plan.refusal


def test_micro_batch_8_at_20k_tokens_refused():
    plan = _plan("hybrid_qwen3_14b.yaml", "qwen3-14b", *FITS, "grpo.per_device_train_batch_size=8",
                 "grpo.gradient_accumulation_steps=16")
    tokens = 8 * (8192 + 12288)
    act = 40 * tokens * 5120 * 2 + tokens * (4 * 5120 + 4 * 5120 + 4 * 1024 + 4 * 17408) * 2  # 97.5 GiB
    assert _term(plan, "grpo", "activations") == act and act > 80 * GIB
    assert plan.refusal.startswith("GPU plan: grpo needs") and "the biggest term is activations (97.5 GiB)" in plan.refusal
    assert "lower grpo.per_device_train_batch_size" in plan.refusal


def test_fitting_14b_accepted_by_hand_sum():
    plan = _plan("hybrid_qwen3_14b.yaml", "qwen3-14b", *FITS)
    assert plan.refusal is None
    state = Q14_PARAMS * (2 + 2 + 12) / 8  # ZeRO-3: bf16 weights and grads, fp32 master + Adam moments, over 8
    gathered = (2 * Q14_PARAMS / 40 + 151936 * 5120) * 2
    act = 40 * 20480 * 5120 * 2 + 20480 * 114688 * 2
    logits = 4096 * 32768 * (2 + 4) + 12288 * 5120 * 4 + 151936 * 5120 * 4  # tile, fp32 grads of hidden and head
    total = state + gathered + act + logits + 0.3 * 80 * GIB + (2 + 0.05 * 80) * GIB
    assert sum(t.bytes for t in plan.stages["grpo"]) == pytest.approx(total)
    assert dict(plan.lines)["gpu grpo headroom"].split()[0] == f"{(80 * GIB - total) / GIB:.1f}"


def test_sleep_mode_and_lora_shrink_the_plan():
    awake = _plan("hybrid_qwen3_14b.yaml", "qwen3-14b", *FITS, "vllm_gpu_memory_utilization=0.5")
    asleep = _plan("hybrid_qwen3_14b.yaml", "qwen3-14b", *FITS, "vllm_gpu_memory_utilization=0.5",
                   "vllm_enable_sleep_mode=true")
    steps = _term(awake, "grpo", "activations") + _term(awake, "grpo", "logits")  # 16.1 GiB
    state = sum(t.bytes for t in awake.stages["grpo"][:4])  # weights, grads, optimizer, gathered: 30.3 GiB
    reserve = 6 * GIB
    assert state + steps + 40 * GIB + reserve > 80 * GIB and "biggest term is vllm (40.0 GiB)" in awake.refusal
    # asleep, the engine and the training steps take turns: max(40 GiB, steps), not the sum
    assert state + max(steps, 40 * GIB) + reserve < 80 * GIB and asleep.refusal is None
    lora = _plan("social_hybrid_qwen3_8b_lora.yaml", "qwen3-8b", launch=gp.Launch())
    assert _term(lora, "grpo", "gradients") == 2727936 * 32 * 4  # only the r=32 adapters train, in fp32


def test_launch_from_the_accelerate_configs():
    cfg = lambda n: gp.launch_from_env(launch_env(str(REPO / "accelerate_configs" / n), None))  # noqa: E731
    assert cfg("deepspeed_zero3.yaml") == gp.Launch(world=8, sharding="zero3")
    assert cfg("deepspeed_zero2.yaml").sharding == "zero2" and cfg("fsdp.yaml").sharding == "fsdp"
    assert cfg("cpu.yaml").cpu and gp.launch_from_env(launch_env(None, 4)).world == 4
    env = {"WORLD_SIZE": "8", "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
           "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": "cpu"}
    assert gp.launch_from_env(env).offload_optimizer


def test_metajudge_load_by_hand():
    r = load_recipe([f"recipe={REPO / 'recipes' / 'hybrid_qwen3_14b.yaml'}"], TrainRecipe)
    lines, warnings = gp.metajudge_load(r, 2048, 8)
    out = 8 * 5 * 10  # tokens a scored pair x 5 human units (assumed offline) x 10 model units
    text = dict(lines)
    assert f"{2048 * out / 2500:,.0f} s of decoding" in text["metajudge time"]
    # the shipped recipe: 8 a rank x 8 ranks, 10 s a request against its 300 s timeout
    assert "64 in flight (8 x 8 processes)" in text["metajudge"] and "unknown offline" in text["metajudge"]
    assert warnings == []
    # as first written: 64 a rank, 512 in flight, 82 s a request against a 60 s timeout
    r.reward.matcher.backend.update(concurrency=64, timeout=60)
    lines, warnings = gp.metajudge_load(r, 2048, 8)
    assert "512 in flight" in dict(lines)["metajudge"]
    assert warnings and f"about {out * 512 / 2500:.0f} s" in warnings[0]
    r.reward.matcher.backend["expected_tokens_per_s"] = 0
    with pytest.raises(RecipeError, match="expected_tokens_per_s"):
        gp.metajudge_load(r, 2048, 8)


def test_expected_tokens_per_s_is_not_a_backend_argument():
    from genrm.reward.config import MatcherConfig
    from genrm.reward.rewards import matcher_from_config

    m = matcher_from_config(MatcherConfig(kind="llm", backend={"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                               "model": "m", "expected_tokens_per_s": 4000}))
    assert m.backend.model == "m"


def test_preflight_refuses_before_weights_with_gpu_memory_gib(tiny_data):
    r = load_recipe([f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", f"model.ref={MODELS / 'qwen3-14b'}",
                     f"data.path={tiny_data}", "data.build=null", "gpu_memory_gib=80"], TrainRecipe)
    with pytest.raises(RecipeError, match="^GPU plan: sft needs .* the biggest term is"):
        preflight(r, None, strict=True)  # 14B, fp32 Adam on one GPU


@pytest.mark.slow
def test_dry_run_prints_and_refuses_through_the_launcher(tiny_data, tmp_path):
    """`genrm train --config_file <zero3> ... dry_run=true` plans for 8 ZeRO-3 processes, in one."""
    r = subprocess.run([sys.executable, "-m", "genrm.cli", "train", "--config_file",
                        str(REPO / "accelerate_configs" / "deepspeed_zero3.yaml"),
                        f"recipe={REPO / 'recipes' / 'hybrid_qwen3_14b.yaml'}", f"model.ref={MODELS / 'qwen3-14b'}",
                        *BROKEN, "data.build=null", f"data.path={tiny_data}", "dry_run=true",
                        f"output_dir={tmp_path}/o"],
                       capture_output=True, text=True, cwd=REPO, timeout=900,
                       env={**_env(), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"})
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.startswith("error: GPU plan: vLLM colocate does not fit") and r.stderr.count("\n") == 1
    assert "8 GPU(s), zero3" in r.stdout and "deepspeed, 8 process(es)" in r.stdout
    for term in ("weights", "gradients", "optimizer", "gathered", "activations", "logits", "vllm", "headroom"):
        assert f"gpu grpo {term}" in r.stdout, (term, r.stdout)
    assert "grpo tokens           unknown" in r.stdout  # a config-only model: no tokenizer, counts unknown
    assert not (tmp_path / "o").exists()


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "WORLD_SIZE"))}


@pytest.mark.slow
def test_smoke_cpu_prints_the_plan_harmlessly(tiny_data, tmp_path):
    r = run_train([f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", f"data.path={tiny_data}", "data.build=null",
                   "dry_run=true", f"output_dir={tmp_path}/o"], timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert any(ln.startswith("gpu plan") and ln.endswith(" fits") for ln in r.stdout.splitlines()), r.stdout


def test_plan_skipped_on_cpu_launch_and_offline_hub_config(monkeypatch):
    r = load_recipe([f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}"], TrainRecipe)
    assert gp.plan_for(r, {"ACCELERATE_USE_CPU": "True"}) == (None, "CPU launch (use_cpu): GPU plan skipped")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r.model.ref = "Qwen/Qwen3-14B-not-in-any-cache"
    assert gp.plan_for(r, {}) == (None, "model config unavailable offline: plan skipped")


@pytest.mark.parametrize("recipe,model,launch", [
    ("hybrid_qwen3_14b.yaml", "qwen3-14b", ZERO3_8), ("outcome_only_qwen3_14b.yaml", "qwen3-14b", ZERO3_8),
    # its header's launch line: ZeRO-3 with --offload_optimizer_device cpu
    ("hybrid_qwen3_30b_a3b.yaml", "qwen3-30b-a3b", gp.Launch(world=8, sharding="zero3", offload_optimizer=True)),
    ("social_hybrid_qwen3_8b_lora.yaml", "qwen3-8b", gp.Launch())])
def test_shipped_gpu_recipes_fit_their_hardware(recipe, model, launch):
    """Each paper recipe fits 80 GiB GPUs under the launch its header gives (defects 2-3)."""
    assert _plan(recipe, model, launch=launch).refusal is None

