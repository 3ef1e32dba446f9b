"""Training step costs, one model, data set and seed in one run (embedded SmolLM2, float32):

1. GRPO with the hybrid reward (embedding matcher, all-MiniLM-L6-v2) against the same run
   with the outcome-only reward: step times, and the split of a step between generation,
   reward and the rest (forward/backward/optimizer). The reward overhead is
   (hybrid reward seconds - outcome reward seconds) / outcome step seconds: generation
   lengths differ between two sampled runs, so raw step times alone would mostly measure
   that noise. Target: at most 3%.
2. SFT training tokens/s and MFU = 6 x parameters x tokens/s over the fp32 `torch.mm`
   throughput measured in the same run. Target: at least 50%.
3. Peak RSS of `recipes/smoke_cpu.yaml` run as a user runs it (fewer steps), from the
   child's rusage. Target: at most 4 GiB.
4. Where vLLM imports without CUDA (the registry's `vllm-cpu`): the hybrid GRPO run again with
   TRL's vLLM server mode generating (`trl vllm-serve`'s flags on 127.0.0.1, float32, eager),
   same prompts, seed and lengths, beside TRL's transformers generation: the step split
   (generation, weight sync, reward, the rest). No target: it shows what vLLM buys here.

    python bench/train_step.py [--grpo-steps 4] [--sft-steps 6] [--skip-rss] [--skip-vllm] [--vllm-only]

Writes bench/results/train_step.json; the last line is the key figure.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.perf import mm_gflops  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from genrm.config import load_recipe  # noqa: E402
from genrm.training import data as tdata  # noqa: E402
from genrm.training.models import model_path  # noqa: E402
from genrm.training.recipe import TrainRecipe  # noqa: E402

TARGET_OVERHEAD, TARGET_MFU, TARGET_RSS_GIB = 0.03, 0.50, 4.0


class Timers:
    """Wall time spent in GRPOTrainer's generation and reward calls, per step; and in the CPU
    vLLM weight sync, which TRL runs inside generation."""

    def __init__(self):
        self.generate = self.reward = self.sync = 0.0

    def install(self):
        from trl import GRPOTrainer

        import genrm.training.vllm_sync as vllm_sync

        targets = {"_generate": GRPOTrainer, "_calculate_rewards": GRPOTrainer,
                   "_sync_server": vllm_sync, "_sync_colocate": vllm_sync}
        originals = {name: getattr(owner, name) for name, owner in targets.items()}

        def timed(name, attr):
            fn = originals[name]

            def wrapper(*a, **k):
                t = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    setattr(self, attr, getattr(self, attr) + time.perf_counter() - t)

            return wrapper

        GRPOTrainer._generate = timed("_generate", "generate")
        GRPOTrainer._calculate_rewards = timed("_calculate_rewards", "reward")
        vllm_sync._sync_server = timed("_sync_server", "sync")
        vllm_sync._sync_colocate = timed("_sync_colocate", "sync")
        return lambda: [setattr(targets[name], name, fn) for name, fn in originals.items()]


class StepProbe(TrainerCallback):
    """Wall time of each optimizer step, and the timers' totals at each step end."""

    def __init__(self, timers: Timers | None = None, trainer=None):
        self.timers, self.trainer = timers, trainer
        self.times: list[float] = []
        self.marks: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self.tokens: list[int] = []

    def on_step_begin(self, args, state, control, **kw):
        self.t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self.t)
        if self.timers is not None:
            self.marks.append((self.timers.generate, self.timers.reward, self.timers.sync))
        self.tokens.append(int(state.num_input_tokens_seen or 0))


def _steady_mean(xs: list[float]) -> float:
    """Mean without the first (warm-up) value."""
    xs = xs[1:] or xs
    return sum(xs) / len(xs)


def grpo_run(recipe: TrainRecipe, records: list, kind: str, steps: int, out: str) -> dict:
    """`steps` GRPO steps with reward `kind`; the first step (warm-up) is left out of the means."""
    import genrm.training.stages as stages
    from trl import GRPOTrainer

    recipe.reward.kind = kind
    recipe.grpo.max_steps = steps
    timers = Timers()
    probe = StepProbe(timers)
    restore = timers.install()
    real_init = GRPOTrainer.__init__

    def init(self, *a, **k):
        k["callbacks"] = list(k.get("callbacks") or []) + [probe]
        real_init(self, *a, **k)

    GRPOTrainer.__init__ = init
    try:
        stages.run_grpo(recipe, records, [], model_path(recipe.model.ref), os.path.join(out, "grpo"), out)
    finally:
        GRPOTrainer.__init__ = real_init
        restore()
    sync = [b[2] - a[2] for a, b in zip(probe.marks, probe.marks[1:])]
    gen = [b[0] - a[0] - s for a, b, s in zip(probe.marks, probe.marks[1:], sync)]  # without the sync
    rew = [b[1] - a[1] for a, b in zip(probe.marks, probe.marks[1:])]
    return {"reward": kind, "generation": f"vllm-{recipe.vllm_mode}" if recipe.use_vllm else "transformers",
            "steps": len(probe.times), "step_seconds": _steady_mean(probe.times),
            "generation_seconds": _steady_mean(gen), "weight_sync_seconds": _steady_mean(sync),
            "reward_seconds": _steady_mean(rew), "all_step_seconds": probe.times}


def vllm_cpu_available() -> bool:
    import importlib.util

    import torch

    return importlib.util.find_spec("vllm") is not None and not torch.cuda.is_available()


def vllm_server_run(recipe: TrainRecipe, records: list, steps: int, out: str) -> dict:
    """The hybrid GRPO run with TRL's vLLM server mode generating (a server on 127.0.0.1)."""
    from genrm.training import vllm_sync

    g = recipe.grpo
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "vllm-server.log")
    t = time.perf_counter()
    with vllm_sync.cpu_server(model_path(recipe.model.ref), log_path=log,
                              max_model_len=recipe.vllm_max_model_length or g.max_prompt_length + g.max_completion_length) as url:
        started = time.perf_counter() - t
        recipe.use_vllm, recipe.vllm_mode, recipe.vllm_server_base_url = True, "server", url
        try:
            run = grpo_run(recipe, records, "hybrid", steps, out)
        finally:
            recipe.use_vllm, recipe.vllm_server_base_url = False, None
    return {**run, "server_start_seconds": started}


def _split(run: dict) -> str:
    other = run["step_seconds"] - run["generation_seconds"] - run["weight_sync_seconds"] - run["reward_seconds"]
    sync = f" + weight sync {run['weight_sync_seconds']:.1f}" if run["weight_sync_seconds"] else ""
    return (f"{run['step_seconds']:.1f} s/step = generation {run['generation_seconds']:.1f}{sync}"
            f" + reward {run['reward_seconds']:.2f} + forward/backward/optimizer {other:.1f}")


def sft_run(recipe: TrainRecipe, records: list, steps: int, out: str, peak: float) -> dict:
    import genrm.training.stages as stages
    from trl import SFTTrainer

    recipe.sft.max_steps = steps
    recipe.sft.enabled = True
    probe = StepProbe()
    real_init = SFTTrainer.__init__

    def init(self, *a, **k):
        k["callbacks"] = list(k.get("callbacks") or []) + [probe]
        k["args"].include_num_input_tokens_seen = "non_padding"
        real_init(self, *a, **k)

    SFTTrainer.__init__ = init
    try:
        stages.run_sft(recipe, records, model_path(recipe.model.ref), os.path.join(out, "sft"))
    finally:
        SFTTrainer.__init__ = real_init
    per_step = [b - a for a, b in zip([0] + probe.tokens, probe.tokens)]
    tok_s = sum(per_step[1:]) / sum(probe.times[1:])
    params = sum(p.numel() for p in _model_params(recipe))
    mfu = 6 * params * tok_s / (peak * 1e9)
    return {"steps": len(probe.times), "tokens_per_step": _steady_mean(per_step), "tokens_per_second": tok_s,
            "parameters": params, "mfu": mfu}


def _model_params(recipe: TrainRecipe):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_path(recipe.model.ref)).parameters()


def smoke_rss(data_path: str, out: str) -> float:
    """Peak RSS (GiB) of `recipes/smoke_cpu.yaml` (2 SFT + 2 GRPO steps) in a child process."""
    args = [sys.executable, str(REPO / "train" / "genrm.py"), f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}",
            f"output_dir={out}", f"data.path={data_path}", "data.build=null", "sft.max_steps=2", "grpo.max_steps=2",
            "eval_steps=2", "eval.max_records=4", "eval.compare_base=false", "report_to=none"]
    subprocess.run(args, check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux


def compare_generation(recipe: TrainRecipe, records: list, steps: int, work: str, result: dict, hybrid: dict) -> None:
    served = vllm_server_run(recipe, records, steps, os.path.join(work, "vllm-server"))
    result["grpo"]["hybrid_vllm_server"] = served
    result["grpo"]["vllm_generation_speedup"] = hybrid["generation_seconds"] / served["generation_seconds"]
    print(f"GRPO  hybrid, transformers generation: {_split(hybrid)}")
    print(f"GRPO  hybrid, vLLM server generation:  {_split(served)} (server up in "
          f"{served['server_start_seconds']:.0f} s); generation {result['grpo']['vllm_generation_speedup']:.2f}x")


def vllm_only(recipe: TrainRecipe, records: list, args: argparse.Namespace, work: str, result: dict) -> int:
    if not vllm_cpu_available():
        print("--vllm-only needs vLLM without CUDA: the registry's vllm-cpu")
        return 2
    hybrid = grpo_run(recipe, records, "hybrid", args.grpo_steps, os.path.join(work, "hybrid"))
    result["grpo"] = {"hybrid": hybrid}
    compare_generation(recipe, records, args.grpo_steps, work, result, hybrid)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"vLLM server generation {result['grpo']['vllm_generation_speedup']:.2f}x TRL's transformers generation")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grpo-steps", type=int, default=4)
    ap.add_argument("--sft-steps", type=int, default=6)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-vllm", action="store_true", help="no vLLM server-mode run (skipped anyway without vllm-cpu)")
    ap.add_argument("--vllm-only", action="store_true", help="only 4: hybrid GRPO with transformers, then vLLM generation")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "train_step.json"))
    args = ap.parse_args()

    recipe = load_recipe([f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", "report_to=none", "eval_steps=0",
                          "save_steps=1000", "grpo.log_completions=false"], TrainRecipe)
    data = tdata.load_data(recipe)
    records = data.train[:64]
    work = tempfile.mkdtemp(prefix="genrm-bench-")
    atexit.register(shutil.rmtree, work, True)  # its checkpoints take about 11 GB
    peak = mm_gflops()
    result: dict = {"peak_gflops": peak, "model": recipe.model.ref, "data": data.path, "seed": recipe.seed}

    if args.vllm_only:
        return vllm_only(recipe, records, args, work, result)
    outcome = grpo_run(recipe, records, "outcome", args.grpo_steps, os.path.join(work, "outcome"))
    hybrid = grpo_run(recipe, records, "hybrid", args.grpo_steps, os.path.join(work, "hybrid"))
    overhead = (hybrid["reward_seconds"] - outcome["reward_seconds"]) / outcome["step_seconds"]
    result["grpo"] = {"outcome": outcome, "hybrid": hybrid, "reward_overhead": overhead,
                      "step_time_ratio": hybrid["step_seconds"] / outcome["step_seconds"]}
    for run in (outcome, hybrid):
        print(f"GRPO {run['reward']:>7}: {_split(run)}")
    print(f"hybrid vs outcome step time: {result['grpo']['step_time_ratio']:.3f}x; reward overhead "
          f"{overhead:.2%} of a step (target <= {TARGET_OVERHEAD:.0%})")

    if args.skip_vllm or not vllm_cpu_available():
        print("GRPO generation with vLLM: skipped (" + ("--skip-vllm" if args.skip_vllm else
              "needs vLLM without CUDA: the registry's vllm-cpu") + ")")
    else:
        compare_generation(recipe, records, args.grpo_steps, work, result, hybrid)

    sft = sft_run(recipe, records, args.sft_steps, os.path.join(work, "sft"), mm_gflops())
    result["sft"] = sft
    print(f"SFT: {sft['tokens_per_second']:.0f} tokens/s, MFU {sft['mfu']:.0%} (target >= {TARGET_MFU:.0%}; "
          f"peak {peak:.0f} GFLOP/s)")
    if not args.skip_rss:
        rss = smoke_rss(data.path, os.path.join(work, "smoke"))
        result["smoke_peak_rss_gib"] = rss
        print(f"smoke_cpu peak RSS: {rss:.2f} GiB (target <= {TARGET_RSS_GIB} GiB)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"reward overhead {overhead:.2%}, SFT MFU {sft['mfu']:.0%}"
          + (f", smoke peak RSS {result['smoke_peak_rss_gib']:.2f} GiB" if "smoke_peak_rss_gib" in result else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
