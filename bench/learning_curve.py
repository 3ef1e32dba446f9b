"""Learning curve of the demo's judge (issue 20): dev-split accuracy, position consistency and
parse failures against SFT examples seen, at the demo's settings and at an alternative.

The dev split is carved from the TRAINING split of the embedded default data (its last
`--dev` gold records; the judge never trains on them) and the held-out split is never read.
Each setting is one SFT run of `recipes/smoke_cpu.yaml` over the largest point's examples,
with a checkpoint at every point; the points are those checkpoints (so the learning-rate
schedule is the longest run's, not one schedule per point), judged by the evaluator on the
dev pairs in both orders. Point 0 is the base model (16 of the dev pairs: it writes no verdict).

    python bench/learning_curve.py [--examples 0,64,128,192,256] [--alt sft.both_orders=false]
                                   [--alt ''] [--dev 64]

Writes bench/results/learning_curve.json and .png; the last line is the examples needed for
65% dev accuracy at the demo's settings (interpolated), or what the largest point reached.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"
TARGET = 65.0


def carve(work: Path, dev_n: int) -> tuple[Path, Path]:
    """A data dir whose train split is the built train split minus its last `dev_n` gold
    records, and whose eval split (the trainer's eval steps) and dev.jsonl are those records."""
    from genrm.data.record import read_jsonl, write_jsonl

    built = REPO / "outputs" / "data" / "embedded_default"
    if not (built / "train.jsonl").exists():
        subprocess.run([sys.executable, "data_prep/build.py", "recipe=recipes/data/embedded_default.yaml"],
                       cwd=REPO, check=True)
    train = list(read_jsonl(str(built / "train.jsonl")))
    gold = [k for k, r in enumerate(train) if r.label_kind == "gold"]
    dev_idx = set(gold[-dev_n:])
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    write_jsonl([r for k, r in enumerate(train) if k not in dev_idx], str(data / "train.jsonl"))
    write_jsonl([train[k] for k in sorted(dev_idx)], str(data / "eval.jsonl"))
    return data, data / "eval.jsonl"


def train(work: Path, data: Path, examples: list[int], overrides: list[str]) -> tuple[Path, dict[int, dict]]:
    """One SFT run to the largest point, a checkpoint at every point; per point: the
    checkpoint, tokens seen and wall seconds since launch."""
    from genrm.config import load_recipe
    from genrm.training.recipe import TrainRecipe

    r = load_recipe([f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", *overrides], TrainRecipe)
    per_step = r.sft.per_device_train_batch_size * r.sft.gradient_accumulation_steps
    steps = [e // per_step for e in examples if e]
    if any(e % per_step for e in examples):
        raise SystemExit(f"--examples must be multiples of {per_step} (examples a step)")
    every = math.gcd(*steps)
    pairs = -(-max(examples) // (2 if r.sft.both_orders else 1))
    out = work / "run"
    args = [f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", "data.build=null", f"data.path={data}",
            f"data.max_train_records={pairs}", f"sft.max_steps={max(steps)}", f"save_steps={every}",
            "save_total_limit=null", "grpo.enabled=false", "eval_steps=0", "report_to=none", f"output_dir={out}",
            "overwrite=true", *overrides]
    t0 = time.time()
    subprocess.run([sys.executable, str(REPO / "train" / "genrm.py"), *args], cwd=REPO, check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"})
    points = {}
    for s in steps:
        ck = out / "sft" / f"checkpoint-{s}"
        state = json.loads((ck / "trainer_state.json").read_text())
        tokens = max((h.get("num_tokens", 0) for h in state["log_history"]), default=0)
        wall = (ck / "trainer_state.json").stat().st_mtime - t0
        points[s * per_step] = {"model": str(ck), "tokens": tokens, "wall_s": round(wall, 1),
                                "tokens_per_s": round(tokens / wall, 1) if wall > 0 else None}
    return out, points


def judge(work: Path, dev: Path, models: dict[int, str], n: int) -> dict[int, dict]:
    """The evaluator's rationale suite on the dev pairs, every model in one run."""
    from genrm.evaluation.summary import headline_rows

    # the base writes no verdict (128 tokens of prose each): 16 of its pairs show that
    specs = ", ".join(f"{{ref: '{m}', name: e{e}" + (", limit: 16}" if e == 0 else "}") for e, m in models.items())
    out = work / "eval"
    subprocess.run([sys.executable, str(REPO / "evaluate" / "run.py"), f"recipe={REPO / 'recipes/eval/demo.yaml'}",
                    f"models=[{specs}]", "suites=[rationale]", f"data.rationale.records=[{dev}]",
                    f"data.rationale.limit={n}", f"output_dir={out}", "overwrite=true"], cwd=REPO, check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"})
    summary = json.loads((out / "summary.json").read_text())
    return {int(row["model"][1:]): row for row in headline_rows(summary, "rationale")}


def needed(curve: list[dict]) -> float | None:
    """Examples at which dev accuracy first reaches TARGET (linear between points)."""
    for a, b in zip(curve, curve[1:]):
        if (a["accuracy"] or 0) < TARGET <= (b["accuracy"] or 0):
            return a["examples"] + (TARGET - a["accuracy"]) / (b["accuracy"] - a["accuracy"]) * (b["examples"] - a["examples"])
    return curve[0]["examples"] if curve and (curve[0]["accuracy"] or 0) >= TARGET else None


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, s in results["settings"].items():
        xs = [p["examples"] for p in s["curve"]]
        acc = [p["accuracy"] or 0 for p in s["curve"]]
        err = [[a - (p["accuracy_ci"] or [a, a])[0] for a, p in zip(acc, s["curve"])],
               [(p["accuracy_ci"] or [a, a])[1] - a for a, p in zip(acc, s["curve"])]]
        ax.errorbar(xs, acc, yerr=err, marker="o", capsize=3, label=f"{name}: accuracy")
        ax.plot(xs, [p["position_consistency"] or 0 for p in s["curve"]], ls="--", marker=".",
                label=f"{name}: position consistency")
    ax.axhline(TARGET, color="grey", lw=0.8)
    ax.axhline(50, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("SFT examples seen")
    ax.set_ylabel(f"% of {results['dev_pairs']} dev pairs (both orders)")
    ax.set_title("SmolLM2-135M judge, dev split of the embedded default data")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", default="0,64,128,192,256")
    ap.add_argument("--alt", default="sft.both_orders=false", help="overrides of the alternative ('' for none)")
    ap.add_argument("--dev", type=int, default=64, help="dev pairs carved from the end of the training split")
    ap.add_argument("--work", default=str(REPO / "outputs" / "bench" / "learning_curve"))
    ap.add_argument("--keep-done", action="store_true",
                    help="keep a setting's curve from bench/results/learning_curve.json when its overrides, "
                         "examples and dev pairs are the same (its wall and tokens/s figures are that run's)")
    a = ap.parse_args()
    examples = sorted({int(x) for x in a.examples.split(",")} | {0})
    work = Path(a.work)
    data, dev = carve(work, a.dev)
    settings = {"demo": []} | ({"alt: " + a.alt: a.alt.split()} if a.alt.strip() else {})
    results: dict = {"examples": examples, "dev_pairs": a.dev, "target_accuracy": TARGET, "settings": {},
                     "note": "points are checkpoints of one run per setting (the longest run's LR schedule)"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    before = json.loads((RESULTS / "learning_curve.json").read_text()) if (RESULTS / "learning_curve.json").exists() else {}
    for k, (name, overrides) in enumerate(settings.items()):
        old = before.get("settings", {}).get(name)
        if (a.keep_done and old and old["overrides"] == overrides and before.get("examples") == examples
                and before.get("dev_pairs") == a.dev):
            results["settings"][name] = {**old, "kept_from_earlier_run": True}
            print(f"{name}: kept from the earlier run in {RESULTS / 'learning_curve.json'}")
            continue
        sub = work / f"setting{k}"
        _, points = train(sub, data, examples, overrides)
        rows = judge(sub, dev, {0: "embedded:smollm2-135m", **{e: p["model"] for e, p in points.items()}}, a.dev)
        curve = [{"examples": e, **{m: rows[e].get(m) for m in ("accuracy", "accuracy_ci", "position_consistency",
                                                                  "position_consistency_ci", "parse_failure_rate", "n")},
                  **{m: points.get(e, {}).get(m) for m in ("tokens", "wall_s", "tokens_per_s")}} for e in examples]
        results["settings"][name] = {"overrides": overrides, "curve": curve, "examples_for_target": needed(curve)}
        (RESULTS / "learning_curve.json").write_text(json.dumps(results, indent=1))
        for p in curve:
            print(f"{name:>28}  {p['examples']:>5} examples  accuracy {p['accuracy']}%  PC {p['position_consistency']}%"
                  f"  parse failures {p['parse_failure_rate']}%  wall {p['wall_s']} s  {p['tokens_per_s']} tokens/s")
    plot(results, RESULTS / "learning_curve.png")
    demo = results["settings"]["demo"]
    best = max(demo["curve"], key=lambda p: p["accuracy"] or 0)
    print(f"examples for {TARGET:.0f}% dev accuracy at the demo's settings: " + (
        f"{demo['examples_for_target']:.0f}" if demo["examples_for_target"] is not None else
        f"not reached within {examples[-1]} (best {best['accuracy']}% at {best['examples']})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
