"""The GPU check (issue 21): what only a GPU can show, in one short run on one H100/H200.

Steps, each under its own time limit, results written after every step:
1. env: the device, and the versions of torch, transformers, TRL, DeepSpeed, accelerate, PEFT;
2. the GPU tests (`pytest -m gpu`: bf16 on single_gpu.yaml, ZeRO-3 in one process, the HF
   backend on CUDA; vLLM's skip when vllm is not installed);
3. a random-init Qwen3 of about 0.5B (built on the device: no weights travel) trained SFT then
   GRPO in bf16 on single_gpu.yaml, then GRPO under ZeRO-3 in one process, with the step times
   and the GPU memory peak each run reached beside the dry run's GPU plan for the same run.

    bash bench/gpu_check.sh            # on the GPU machine; wheels it lacks travel in .whl
    python bench/gpu_check.py --cpu    # this script's own plumbing, on CPU (tiny sizes)

Writes bench/results/gpu_check.json (or $OUT/gpu_check.json); the last line is the key figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# about 0.5B parameters with SmolLM2's 49,152-token vocabulary (tied embeddings)
BIG = {"hidden_size": 1024, "layers": 24, "intermediate_size": 3072, "num_attention_heads": 16,
       "num_key_value_heads": 8, "head_dim": 64}
CPU = {"hidden_size": 64, "layers": 2}


def _step(results: dict, out: Path, name: str, cmd: list[str], timeout: int, sample_gpu: bool = False,
          **kw) -> subprocess.CompletedProcess | None:
    t0 = time.time()
    # the whole device's memory in use, every 200 ms: the run's peak, allocator cache included
    smi = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "200"],
                           stdout=subprocess.PIPE, text=True) if sample_gpu else None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, **kw)
        rc, text = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        r, rc = None, 124
        text = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
    results["steps"][name] = {"rc": rc, "seconds": round(time.time() - t0, 1), "tail": text[-3000:]}
    if smi is not None:
        smi.terminate()
        used = [int(x) for x in smi.communicate()[0].split() if x.isdigit()]
        results["steps"][name]["gpu_peak_mib"] = max(used, default=None)
    (out / f"{name}.log").write_text(text)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    print(f"{name}: rc={rc} in {time.time() - t0:.0f} s", flush=True)
    return r


def _train_args(model: str, data: Path, run: Path, cpu: bool, *extra: str) -> list[str]:
    from tests.training.conftest import tiny_args

    dtype = [] if cpu else ["precision=bf16", "model.dtype=bfloat16"]
    return tiny_args(Path(model), data, run, *dtype, "sft.max_steps=4", "sft.max_length=1024",
                     "grpo.num_generations=4", "grpo.per_device_train_batch_size=4",
                     "grpo.max_completion_length=64", "grpo.max_prompt_length=1024",
                     "eval.max_new_tokens=32", "save_steps=1000", *extra)


def _runtimes(log: str) -> list[dict]:
    """The trainers' closing summaries (train_runtime, steps/s), one a stage, in order."""
    import ast

    return [ast.literal_eval(ln[ln.index("{"):]) for ln in log.splitlines() if "'train_runtime'" in ln and "{" in ln]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu", action="store_true", help="tiny sizes on CPU: checks this script, not the GPU")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(REPO / "bench" / "results"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    results: dict = {"cpu_mode": a.cpu, "steps": {}, "runs": {}}
    _step(results, out, "env", ["bash", "-c", "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;"
                                f"{sys.executable} -c 'import torch, transformers, trl, deepspeed, accelerate, peft;"
                                "[print(m.__name__, m.__version__) for m in (torch, transformers, trl, deepspeed,"
                                " accelerate, peft)]; print(\"cuda\", torch.cuda.is_available())'"], 120)
    if not a.cpu and not torch.cuda.is_available():
        print("no CUDA device: run with --cpu to check the script itself")
        return 2
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-m", "gpu",
              "tests/training/test_gpu.py", "tests/backends/test_hf.py", "tests/backends/test_vllm.py"]
    if not a.cpu:
        _step(results, out, "gpu_tests", pytest, 200)

    from genrm.data.record import write_jsonl
    from genrm.testing.tiny import save_tiny_model, smollm2_tokenizer
    from tests.training.conftest import tiny_records

    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    data = tmp / "data"
    data.mkdir()
    write_jsonl(tiny_records(32), str(data / "train.jsonl"))
    write_jsonl(tiny_records(8, offset=100), str(data / "eval.jsonl"))
    model = save_tiny_model(str(tmp / "qwen3"), smollm2_tokenizer(), arch="qwen3", **(CPU if a.cpu else BIG))
    params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(model).parameters())
    results["model"] = {"arch": "qwen3", "params": params, **(CPU if a.cpu else BIG)}
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--config_file"]
    for name, config, extra, limit in [
        ("bf16_single_gpu", "cpu.yaml" if a.cpu else "single_gpu.yaml", ["grpo.max_steps=4", "eval_steps=2"], 150),
        ("zero3_one_process", "deepspeed_zero3.yaml", ["sft.enabled=false", "grpo.max_steps=2", "eval_steps=0"], 150),
    ]:
        if a.cpu and config == "deepspeed_zero3.yaml":
            continue  # tests/training cover ZeRO-3 on CPU; here only the GPU run is new
        run = tmp / name
        args = _train_args(model, data, run, a.cpu, *extra)
        dry = _step(results, out, f"{name}_plan", [*launch, str(REPO / "accelerate_configs" / config),
                                                   str(REPO / "train" / "genrm.py"), *args, "dry_run=true"], 60, env=env)
        plan = [ln for ln in (dry.stdout if dry else "").splitlines() if ln.startswith("gpu ")]
        _step(results, out, name, [*launch, str(REPO / "accelerate_configs" / config), str(REPO / "train" / "genrm.py"),
                                   *args], limit, sample_gpu=not a.cpu, env=env)
        results["runs"][name] = {"plan": plan, "times": _runtimes((out / f"{name}.log").read_text()),
                                 "gpu_peak_mib": results["steps"][name].get("gpu_peak_mib")}
        (out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    failed = [n for n, s in results["steps"].items() if s["rc"] != 0]
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results["runs"], indent=1))
    print(f"gpu check: {len(results['steps']) - len(failed)} of {len(results['steps'])} steps passed"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
