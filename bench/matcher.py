"""Benchmark the embedding matcher: records/s with the human-unit cache on vs off.

Records are built from real RM-Bench prompts in ../shared/data/rm_bench: for each
prompt, 4-5 human units are sentences of its chosen responses, and each of G
rollouts (as in a GRPO group) gets 5 model units drawn from the chosen and
rejected responses. Records go through `EmbeddingMatcher.score_matrices` in
batches that hold whole groups (as TRL hands a reward function a batch of
completions). Both runs use the same loaded model and must give identical
matrices; the cache saves re-embedding the human units of the G-1 later rollouts.

It also measures fp32 `torch.mm` throughput and derives the compute ceiling of
the cached matcher: records/s if every FLOP of the model-unit embeddings ran at
mm speed (2 x non-embedding parameters per token).

The reward does not call the matcher bare: `genrm.reward.scoring.score_rationales` maps sides,
caps the reasons and runs the integrity checks (genrm/reward/defenses.py) around it. The "checks"
run scores the same records that way (the RM-Bench prompt as the context of the copy
check) with the same cached matcher. It and the bare cached run go batch by batch in
alternating order, `--repeats` passes, so a slow spell of the (shared) machine hits both
alike. The checks may cost at most 20% of the bare throughput. torch.mm is measured before
and after the runs and the faster figure sets the ceiling.

    python bench/matcher.py [--prompts 128] [--rollouts 4] [--batch 64] [--repeats 2] [--device cpu|cuda]

On CUDA the mm baseline is fp32 `torch.mm` on that GPU (TF32 off, as the matcher runs).

Writes bench/results/matcher.json; the last line is the key figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genrm.reward.defenses import context_ngrams  # noqa: E402
from genrm.reward.matching import EmbeddingMatcher  # noqa: E402
from genrm.reward.scoring import RationaleItem, score_rationales  # noqa: E402
from genrm.reward.stance import all_content, analyse  # noqa: E402

DATA = Path(os.environ.get("GENRM_SHARED_DATA", REPO.parent / "shared" / "data"))
FILES = ("chat_filtered.json", "safety-refuse_filtered.json", "safety-response_filtered.json")
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        for s in _SPLIT.split(line.strip()):
            s = s.strip(" -*#")
            if 6 <= len(s.split()) <= 40:
                out.append(s)
    return list(dict.fromkeys(out))


def build_records(n_prompts: int, rollouts: int, seed: int) -> list[tuple[list[str], list[str], str]]:
    rng = random.Random(seed)
    rows = []
    for name in FILES:
        path = DATA / "rm_bench" / name
        if not path.exists():
            raise SystemExit(f"{path}: RM-Bench data not found (expected ../shared/data beside the repo)")
        rows.extend(json.loads(path.read_text(encoding="utf-8")))
    rng.shuffle(rows)
    records = []
    for row in rows:
        chosen = sentences("\n".join(row["chosen"]))
        pool = list(dict.fromkeys(chosen + sentences("\n".join(row["rejected"]))))
        if len(chosen) < 5 or len(pool) < 8:
            continue
        human = rng.sample(chosen, rng.choice((4, 5)))
        for _ in range(rollouts):
            records.append((human, rng.sample(pool, 5), row["prompt"]))
        if len(records) >= n_prompts * rollouts:
            break
    return records


def mm_gflops(device: str = "cpu", size: int = 1024, reps: int = 20) -> float:
    if device != "cpu":
        size, reps = 4096, 50
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.mm(a, b)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    sync()
    return 2 * size**3 * reps / (time.perf_counter() - t) / 1e9


def run(matcher: EmbeddingMatcher, records, batch: int) -> tuple[float, list[np.ndarray]]:
    matcher.clear_cache()
    out = []
    t = time.perf_counter()
    for k in range(0, len(records), batch):
        out.extend(matcher.score_matrices([(h, m) for h, m, _ in records[k : k + batch]]))
    return time.perf_counter() - t, out


def paired(matcher: EmbeddingMatcher, records, batch: int, repeats: int):
    """Bare cached matcher vs score_rationales (what the rewards run), batch by batch in
    alternating order, so a slow spell of a shared machine hits both alike. Caches (the
    matcher's and the checks') start cold for every batch; a batch holds whole GRPO groups.
    Returns mean seconds per pass (bare, checked), the bare matrices and the check counts."""
    t_bare = t_checked = 0.0
    out: list[np.ndarray] = []
    stats: Counter = Counter()
    chunks = [records[k : k + batch] for k in range(0, len(records), batch)]
    for rep in range(repeats):
        for i, chunk in enumerate(chunks):
            for which in ("bare", "checked") if (i + rep) % 2 == 0 else ("checked", "bare"):
                matcher.clear_cache()
                if which == "bare":
                    t = time.perf_counter()
                    got = matcher.score_matrices([(h, m) for h, m, _ in chunk])
                    t_bare += time.perf_counter() - t
                    if rep == repeats - 1:
                        out.extend(got)
                    continue
                for cache in (context_ngrams, analyse, all_content):
                    cache.cache_clear()
                items = [RationaleItem(h, m, None, context=p) for h, m, p in chunk]
                t = time.perf_counter()
                score_rationales(matcher, items, stats=stats if rep == 0 else None)
                t_checked += time.perf_counter() - t
    return t_bare / repeats, t_checked / repeats, out, dict(stats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--rollouts", type=int, default=4, help="records per prompt (GRPO group size)")
    ap.add_argument("--batch", type=int, default=64, help="records per score_matrices call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="passes of the paired bare/checked cached runs")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--model", default="embedded:all-minilm-l6-v2", help="sentence-transformers path or id")
    ap.add_argument("--encode-batch", type=int, default=None, help="texts per forward (default: the matcher's)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "matcher.json"))
    args = ap.parse_args()

    records = build_records(args.prompts, args.rollouts, args.seed)
    n_human = sum(len(h) for h, _, _ in records)
    n_model = sum(len(m) for _, m, _ in records)
    print(f"{len(records)} records from {len(records) // args.rollouts} RM-Bench prompts x {args.rollouts} rollouts; "
          f"{n_human / len(records):.2f} human and {n_model / len(records):.1f} model units per record; "
          f"torch threads {torch.get_num_threads()}")

    kw = dict(model=args.model, device=args.device, batch_size=args.encode_batch)
    cached = EmbeddingMatcher(cache_size=4096, **kw)
    uncached = EmbeddingMatcher(cache_size=0, **kw)
    uncached._model = cached.model  # one loaded model for both runs
    print(f"device {cached.device}, encode batch {cached.batch_size}")
    cached.embed([u for u in records[0][0]] * 64)  # warm-up

    gflops_before = mm_gflops(cached.device)
    t_off, out_off = run(uncached, records, args.batch)
    t_on, t_checked, out_on, check_stats = paired(cached, records, args.batch, max(1, args.repeats))
    identical = all(np.array_equal(a, b) for a, b in zip(out_on, out_off))
    if not identical:
        print("ERROR: cached and uncached matrices differ", file=sys.stderr)

    rps_on, rps_off, rps_checked = len(records) / t_on, len(records) / t_off, len(records) / t_checked
    texts_on = n_model + sum(len(records[k][0]) for k in range(0, len(records), args.rollouts))
    tok = cached.model.tokenizer
    model_tokens = sum(len(ids) for ids in tok([m for _, ms, _ in records for m in ms])["input_ids"]) / len(records)
    params = sum(p.numel() for n, p in cached.model.named_parameters() if "embeddings" not in n)
    if cached.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # the matcher's own setting (PyTorch default)
    # The faster of two measurements (before and after the runs): the ceiling errs high, shares low.
    gflops = max(gflops_before, mm_gflops(cached.device))
    ceiling = gflops * 1e9 / (2 * params * model_tokens)
    levels = np.concatenate([o.ravel() for o in out_on])
    on_gpu = cached.device.startswith("cuda")

    result = {
        "records": len(records),
        "rollouts_per_prompt": args.rollouts,
        "batch_records": args.batch,
        "human_units_per_record": n_human / len(records),
        "model_units_per_record": n_model / len(records),
        "records_per_s_cache_on": rps_on,
        "records_per_s_cache_off": rps_off,
        "ratio_on_over_off": rps_on / rps_off,
        "seconds_cache_on": t_on,
        "seconds_cache_off": t_off,
        "units_embedded_cache_on": texts_on,
        "units_embedded_cache_off": n_human + n_model,
        "cache_hit_rate": cached.cache_hits / max(1, cached.cache_hits + cached.cache_misses),
        "identical_matrices": identical,
        "score_level_shares": {str(lv): float(np.mean(levels == lv)) for lv in (0.0, 0.25, 0.5, 0.75, 1.0)},
        "model_unit_tokens_per_record": model_tokens,
        "non_embedding_params": params,
        "mm_fp32_gflops": gflops,
        "compute_ceiling_records_per_s_cache_on": ceiling,
        "records_per_s_checked": rps_checked,
        "seconds_checked": t_checked,
        "repeats": max(1, args.repeats),
        "checked_over_bare": rps_checked / rps_on,
        "checks_cost_at_most_20pct": rps_checked >= 0.8 * rps_on,
        "check_counts": check_stats,
        "load_average_1min": os.getloadavg()[0],
        "ceiling_share_cache_on": rps_on / ceiling,
        "ceiling_share_checked": rps_checked / ceiling,
        # GPU: at least 1,000 records/s; CPU: at least 40% of the ceiling this run measures
        # (1,000 is out of reach on 2 cores: the ceiling itself is about 75)
        "target": "records_per_s >= 1000" if on_gpu else "ceiling_share >= 0.40",
        "target_met": rps_on >= 1000 if on_gpu else min(rps_on, rps_checked) / ceiling >= 0.40,
        "torch_threads": torch.get_num_threads(),
        "device": cached.device,
        "device_name": torch.cuda.get_device_name(cached.device) if cached.device.startswith("cuda") else "cpu",
        "encode_batch": cached.batch_size,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    print(f"cache off: {rps_off:8.1f} records/s ({t_off:.1f} s, {n_human + n_model} units embedded)")
    print(f"cache on : {rps_on:8.1f} records/s ({t_on:.1f} s, {texts_on} units embedded, "
          f"hit rate {result['cache_hit_rate']:.2f})")
    print(f"identical matrices: {identical}")
    print(f"fp32 torch.mm on {result['device_name']}: {gflops:.0f} GFLOP/s; compute ceiling with the cache: {ceiling:.0f} records/s "
          f"({model_tokens:.0f} model-unit tokens/record x 2 x {params / 1e6:.1f}M params)")
    print(f"target ({'>= 1000 records/s on a GPU' if on_gpu else '>= 40% of the compute ceiling on CPU'}, "
          f"cached, with and without the checks): {'met' if result['target_met'] else 'NOT met'}")
    print(f"ratio cached/uncached: {rps_on / rps_off:.2f}x")
    print(f"records/s with cache: {rps_on:.1f} ({rps_on / ceiling:.0%} of the compute ceiling); "
          f"through score_rationales with the checks: {rps_checked:.1f} (checks {check_stats})")
    print(f"records/s with cache and integrity checks: {rps_checked:.1f} = {rps_checked / rps_on:.2f}x the bare "
          f"matcher (at least 0.80x: {'met' if rps_checked >= 0.8 * rps_on else 'NOT met'}), "
          f"{rps_checked / ceiling:.0%} of the compute ceiling")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
