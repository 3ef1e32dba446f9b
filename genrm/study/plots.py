"""The study's figures: RC against outcome accuracy per arm, GRPO learning curves from the
logged eval steps, and the BBQ bias/faithfulness trade-off of every arm and seed."""

from __future__ import annotations

import os
from typing import Any

COLORS = {"base": "#7f7f7f", "sft": "#9467bd", "outcome": "#1f77b4", "hybrid": "#2ca02c", "rationale": "#d62728"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str, written: list[str]) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    written.append(path)


def _scatter(ax, units: dict[str, list[dict]], x_of, y_of) -> bool:
    """Per-seed points (small) and the arm mean with +-std bars (large); False when nothing to draw."""
    import numpy as np

    drawn = False
    for arm, per_seed in units.items():
        pts = [(x_of(m), y_of(m)) for m in per_seed]
        pts = [(x, y) for x, y in pts if x is not None and y is not None]
        if not pts:
            continue
        drawn = True
        xs, ys = np.array(pts).T
        c = COLORS.get(arm, "k")
        ax.scatter(xs, ys, s=18, color=c, alpha=0.45)
        xe = float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0
        ye = float(np.std(ys, ddof=1)) if len(ys) > 1 else 0.0
        ax.errorbar(xs.mean(), ys.mean(), xerr=xe, yerr=ye, fmt="o", ms=8, color=c, capsize=3, label=f"{arm} (n={len(xs)})")
    return drawn


def _scatter_figure(units: dict[str, list[dict]], x_of, y_of, labels: tuple[str, str, str], path: str,
                    written: list[str], full_range: bool = False) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    if not _scatter(ax, units, x_of, y_of):
        plt.close(fig)
        return
    if full_range:
        ax.set_xlim(-4, 104)
        ax.set_ylim(-4, 104)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(labels[2])
    ax.legend(fontsize=7)
    _save(fig, path, written)


def write_plots(study: dict[str, Any], out_dir: str) -> list[str]:
    """Write the figures of `study` (the study.json dict) into `out_dir`; returns their paths."""
    plt = _plt()
    os.makedirs(out_dir, exist_ok=True)
    written: list[str] = []
    units = {arm: [u["measures"] for u in study["units"] if u["arm"] == arm and u.get("measures")]
             for arm in study["arms"]}

    _scatter_figure(units, lambda m: m["accuracy"], lambda m: m["rationale_consistency"],
                    ("outcome accuracy on the held-out split (%)", "rationale consistency, top-5 soft recall (%)",
                     "Rationale consistency vs outcome accuracy"), os.path.join(out_dir, "rc_vs_accuracy.png"), written)

    curves = [(u["arm"], u["seed"], u["curve"]) for u in study["units"] if u.get("curve")]
    if curves:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, key, label in zip(axes, ("accuracy", "rationale_consistency"),
                                  ("outcome accuracy (%)", "rationale consistency (%)")):
            seen: set[str] = set()
            for arm, seed, pts in curves:
                pts = [p for p in pts if p.get(key) is not None]
                if not pts:
                    continue
                ax.plot([p["step"] for p in pts], [p[key] for p in pts], marker=".", lw=1, color=COLORS.get(arm, "k"),
                        alpha=0.8, label=None if arm in seen else arm)
                seen.add(arm)
            ref = study["aggregate"].get("sft", {}).get(key, {}).get("mean")
            if ref is not None:
                ax.axhline(ref, color=COLORS["sft"], ls="--", lw=1, label="SFT start (whole held-out set)")
            ax.set_xlabel("GRPO step")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
        fig.suptitle("Learning curves from the logged eval steps (one line per seed)", fontsize=10)
        _save(fig, os.path.join(out_dir, "learning_curves.png"), written)

    _scatter_figure(units, lambda m: m["tradeoff"]["disambig_accuracy"], lambda m: m["tradeoff"]["ambig_accuracy"],
                    ("context faithfulness: BBQ disambiguated accuracy (%)",
                     "bias avoidance: BBQ ambiguous accuracy (%)", "Bias avoidance vs context faithfulness"),
                    os.path.join(out_dir, "tradeoff.png"), written, full_range=True)
    return written
