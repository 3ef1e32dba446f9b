"""Shared by the benchmarks: this machine's fp32 matrix-multiply peak (the MFU denominator)."""

from __future__ import annotations

import time

import torch


def mm_gflops(size: int = 2048, trials: int = 5, reps: int = 8) -> float:
    """Best fp32 `torch.mm` throughput (GFLOP/s) over a few trials of size^3 products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    for _ in range(trials):
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = max(best, 2 * size**3 * reps / (time.perf_counter() - t) / 1e9)
    return best
