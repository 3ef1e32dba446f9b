"""The evaluator's PNG plots: per-domain bars, the RM-Bench matrix as a heatmap, RewardBench 2
per subset, the bias/faithfulness trade-off. Points without a value (no readable verdict,
see genrm.evaluation.missing) are left out, never drawn as 0."""

from __future__ import annotations

import os
from typing import Any

from genrm.evaluation.cells import RB2_PROTOCOLS
from genrm.evaluation.cells import fmt as _fmt
from genrm.evaluation.cells import get as _get


def _label_bars(ax: Any, bars: Any) -> None:
    """The value on top of each bar (a reader should not have to read it off the axis)."""
    ax.bar_label(bars, fmt="%.0f", fontsize=6, padding=1)


def _chance(ax: Any, y: float, label: str) -> None:
    """A dashed chance line, labelled inside the axes at its right end."""
    ax.axhline(y, color="grey", lw=0.8, ls="--")
    ax.text(0.99, y, f" {label}", transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=7,
            color="dimgrey")


def write_plots(summary: dict, out_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    os.makedirs(out_dir, exist_ok=True)
    res, models = summary["results"], [m["name"] for m in summary["models"]]
    written: list[str] = []

    def save(fig, name: str) -> None:
        p = os.path.join(out_dir, name)
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(p)

    bars: dict[str, dict[str, float]] = {}  # "suite: domain" -> model -> score
    for m in models:
        for d, v in (_get(res, m, "rm_bench", "metrics", "domains") or {}).items():
            if v["avg"] is not None:  # null: no readable verdict, left out rather than drawn as 0
                bars.setdefault(f"RM-Bench {d}", {})[m] = v["avg"]
        for d, v in (_get(res, m, "social", "metrics", "domains") or {}).items():
            if v["accuracy"] is not None:
                bars.setdefault(f"general pairs" if d == "general" else f"social {d}", {})[m] = v["accuracy"]
        for c in ("knowledge", "reasoning", "math", "coding"):
            v = _get(res, m, "judgebench", "metrics", c)
            if isinstance(v, (int, float)):
                bars.setdefault(f"JudgeBench {c}", {})[m] = v
        for c, v in (_get(res, m, "best_of_n", "metrics", "categories") or {}).items():
            if v["accuracy"] is not None:
                bars.setdefault(f"best-of-N {c}", {})[m] = v["accuracy"]
    if bars:
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(bars) * max(1, len(models)) ** 0.5), 4))
        x = np.arange(len(bars))
        w = 0.8 / max(1, len(models))
        for k, m in enumerate(models):
            _label_bars(ax, ax.bar(x + k * w, [bars[g].get(m, np.nan) for g in bars], w, label=m))
        ax.set_xticks(x + w * (len(models) - 1) / 2, list(bars), rotation=30, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_ylim(0, 112)  # headroom for the value labels and the legend, inside the axes
        _chance(ax, 50, "chance (pairwise): 50")
        ax.legend(fontsize=8, loc="upper left", ncol=max(1, min(4, len(models))))
        ax.set_title("Accuracy per domain")
        save(fig, "domains.png")
    for m in models:
        doms = {d: v for d, v in (_get(res, m, "rm_bench", "metrics", "domains") or {}).items() if v.get("matrix")}
        if not doms:
            continue
        fig, axes = plt.subplots(1, len(doms), figsize=(3.2 * len(doms), 3), squeeze=False)
        for ax, (d, v) in zip(axes[0], doms.items()):
            mat = np.asarray(v["matrix"])
            ax.imshow(mat, vmin=0, vmax=100, cmap="viridis")
            for i in range(3):
                for j in range(3):
                    ax.text(j, i, f"{mat[i][j]:.0f}", ha="center", va="center", color="w" if mat[i][j] < 60 else "k")
            names = ["concise", "plain", "markdown"]
            ax.set_xticks(range(3), names, fontsize=7)
            ax.set_yticks(range(3), names, fontsize=7)
            ax.set_xlabel("rejected variant")
            ax.set_ylabel("chosen variant")
            ax.set_title(f"{d} (n={v['n']})", fontsize=9)
        fig.suptitle(f"RM-Bench matrix: {m}", fontsize=10)
        save(fig, f"rm_bench_matrix_{_safe(m)}.png")
    series = _rb2_series(res, models)
    if series:
        groups = list(dict.fromkeys(s for _, v in series for s in v))
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(groups) * len(series)), 4))
        x = np.arange(len(groups))
        w = 0.8 / len(series)
        for k, (label, v) in enumerate(series):
            _label_bars(ax, ax.bar(x + k * w, [np.nan if v.get(g) is None else v[g] for g in groups], w, label=label,
                                   hatch="//" if label.endswith(" answer") else None))
        ax.set_xticks(x + w * (len(series) - 1) / 2, groups, rotation=20, ha="right")
        ax.set_ylabel("score (%)")
        ax.set_ylim(0, 125)  # headroom for the value labels and the legend, inside the axes
        _chance(ax, 25, "chance (best of 4): 25")
        ax.legend(fontsize=7, loc="upper left", ncol=min(4, len(series)))
        ax.set_title("RewardBench 2 per subset (hatched: length baselines; dashed: best-of-4 chance)")
        save(fig, "rewardbench2_subsets.png")
    points = [(m, _get(res, m, "social", "metrics", "tradeoff")) for m in models]
    points = [(m, t) for m, t in points if t and t["ambig_accuracy"] is not None and t["disambig_accuracy"] is not None]
    if points:
        fig, ax = plt.subplots(figsize=(5, 4))
        for m, t in points:
            ax.scatter(t["disambig_accuracy"], t["ambig_accuracy"], s=40 + 3 * (t["abs_s_amb"] or 0))
            right = t["disambig_accuracy"] > 60  # label toward the middle: it stays inside the axes
            ax.annotate(f"{m} |s_AMB|={_fmt(t['abs_s_amb'])}", (t["disambig_accuracy"], t["ambig_accuracy"]),
                        fontsize=7, xytext=(-4 if right else 4, -10 if t["ambig_accuracy"] > 90 else 4),
                        textcoords="offset points", ha="right" if right else "left")
        ax.set_xlim(-4, 104)
        ax.set_ylim(-4, 104)
        ax.set_xlabel("context faithfulness: BBQ disambiguated accuracy (%)")
        ax.set_ylabel("bias avoidance: BBQ ambiguous accuracy (%)")
        for size in (0, 25, 50):  # marker area encodes |s_AMB|: say how
            ax.scatter([], [], s=40 + 3 * size, color="lightgrey", label=f"|s_AMB| = {size}")
        ax.legend(fontsize=7, loc="lower left", title="marker size", title_fontsize=7)
        ax.set_title("Bias avoidance vs context faithfulness")
        save(fig, "tradeoff.png")
    return written


def _rb2_series(res: dict, models: list[str]) -> list[tuple[str, dict]]:
    """(label, {subset: score}) per model and protocol, then the two length baselines."""
    out, base = [], None
    for m in models:
        x = _get(res, m, "rewardbench2", "metrics") or {}
        for key, label, _ in RB2_PROTOCOLS:
            sub = _get(x, "protocols", key, "subsets")
            if sub:
                out.append((f"{m} {label}", {s: v["score"] for s, v in sub.items()}))
        base = base or x.get("length_baselines")
    if out and base:
        out += [(f"{pick} answer", {s: v["score"] for s, v in base[pick]["subsets"].items()})
                for pick in ("shortest", "longest")]
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


