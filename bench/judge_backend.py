"""HF judge backend: batched generation vs a naive one-prompt-at-a-time loop.

64 real pairwise judge prompts (RM-Bench chat from ../shared/data, the concise
chosen vs concise rejected answer of the first 64 prompts, rendered with the
default `rationale` judge template) are judged greedily by the embedded
SmolLM2-135M-Instruct, float32, 64 new tokens:

- ours: `HFBackend.generate` over all 64 prompts (length-sorted decode groups of
  `--batch-size`, the shared prompt prefix prefilled once, finished rows dropped);
- baseline, measured in the same run: `model.generate(do_sample=False)` on one
  prompt at a time, the loop a user writes first.

The outputs must be identical. MFU = useful tokens/s x 2 x parameters / the fp32
`torch.mm` throughput measured right before that run (best of several 2048^3
products). The batched run is repeated (`--repeat`, default 3) and the median run is
reported, since this machine's speed drifts between runs. Useful tokens are the tokens the model actually ran: prompt tokens through
prefill (a shared prefix counts once) plus generated tokens fed back in decode;
padding is not counted. The throughput counting every prompt token is reported too.

    python bench/judge_backend.py [--n 64] [--batch-size 64] [--max-new-tokens 64]

Writes bench/results/judge_backend.json; the last line is the key figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from bench.perf import mm_gflops  # noqa: E402
from tqdm import tqdm  # noqa: E402

from genrm.backends.base import Sampling  # noqa: E402
from genrm.backends.hf import HFBackend  # noqa: E402
from genrm.judge.prompts import render_judge_messages  # noqa: E402
from genrm.data.sources.rm_bench import load as load_rm_bench  # noqa: E402
from genrm.judge.verdict import parse_verdict  # noqa: E402

DATA = Path(os.environ.get("GENRM_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGET_RATIO, TARGET_MFU = 4.0, 0.50


def judge_prompts(n: int) -> list[list[dict]]:
    path = DATA / "rm_bench" / "chat_filtered.json"
    if not path.exists():
        raise SystemExit(f"{path}: RM-Bench data not found (expected ../shared/data beside the repo)")
    recs = [r for r in load_rm_bench(str(path)) if r.meta["chosen_variant"] == r.meta["rejected_variant"] == 0][:n]
    if len(recs) < n:
        raise SystemExit(f"only {len(recs)} RM-Bench chat prompts in {path}, asked for {n}")
    return [render_judge_messages(r.prompt, r.response_a, r.response_b) for r in recs]


def naive_loop(backend: HFBackend, prompts, max_new: int) -> list[str]:
    eos = sorted(backend.eos_ids)
    out = []
    with torch.inference_mode():
        for p in tqdm(prompts, desc="naive loop", unit="prompt"):
            ids = torch.tensor([backend.encode(p)])
            gen = backend.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False,
                eos_token_id=eos, pad_token_id=backend.pad_id,
            )[0, ids.shape[1]:].tolist()
            gen = gen[: next((k for k, t in enumerate(gen) if t in eos), len(gen))]
            out.append(backend.tokenizer.decode(gen, skip_special_tokens=True))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64, help="judge prompts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="batched runs (the median is reported)")
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "judge_backend.json"))
    args = ap.parse_args()

    prompts = judge_prompts(args.n)
    backend = HFBackend(args.model, dtype="float32", device="cpu", batch_size=args.batch_size)
    params = sum(p.numel() for p in backend.model.parameters())
    sampling = Sampling(max_new_tokens=args.max_new_tokens)
    prompt_lens = [len(backend.encode(p)) for p in prompts]
    print(f"{args.n} RM-Bench chat judge prompts, {sum(prompt_lens) / len(prompt_lens):.0f} tokens on average "
          f"({min(prompt_lens)}-{max(prompt_lens)}); {params / 1e6:.1f}M params; torch threads {torch.get_num_threads()}")

    backend.generate(prompts[:2], Sampling(max_new_tokens=4))  # warm-up
    # This machine's speed drifts by about 10% over minutes: each batched run gets its own
    # torch.mm measurement just before it, and the headline figures are the median run's.
    runs = []
    for _ in range(args.repeat):
        gflops = mm_gflops()
        for k in backend.stats:
            backend.stats[k] = 0
        t = time.perf_counter()
        ours = backend.generate(prompts, sampling)
        runs.append((time.perf_counter() - t, gflops))
    stats = dict(backend.stats)
    useful = stats["prefill_tokens"] + stats["decode_tokens"]
    all_tokens = stats["prompt_tokens"] + stats["generated_tokens"]
    mfus = [useful / t * 2 * params / (g * 1e9) for t, g in runs]
    median = sorted(range(len(runs)), key=lambda i: runs[i][0])[len(runs) // 2]
    t_ours, mfu = runs[median][0], mfus[median]
    gflops_before_naive = mm_gflops()
    t = time.perf_counter()
    naive = naive_loop(backend, prompts, args.max_new_tokens)
    t_naive = time.perf_counter() - t
    gflops = max(g for _, g in runs)

    mismatches = [i for i, (a, b) in enumerate(zip(ours, naive)) if a != b]
    mfu_naive = all_tokens / t_naive * 2 * params / (gflops_before_naive * 1e9)
    ratio = t_naive / t_ours
    verdicts = [parse_verdict(t) for t in ours]
    result = {
        "prompts": args.n,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "mean_prompt_tokens": sum(prompt_lens) / len(prompt_lens),
        "seconds_batched": t_ours,
        "seconds_batched_runs": [t for t, _ in runs],
        "mm_fp32_gflops_per_run": [g for _, g in runs],
        "mfu_runs": mfus,
        "seconds_naive": t_naive,
        "speed_ratio": ratio,
        "identical_outputs": not mismatches,
        "mismatched_prompts": mismatches,
        "useful_tokens": useful,
        "useful_tokens_per_s": useful / t_ours,
        "all_prompt_and_generated_tokens": all_tokens,
        "all_tokens_per_s": all_tokens / t_ours,
        "mfu": mfu,
        "mfu_counting_every_prompt_token": all_tokens / t_ours * 2 * params / (gflops * 1e9),
        "mfu_naive_loop": mfu_naive,
        "mm_fp32_gflops_max": gflops,
        "mm_fp32_gflops_before_naive": gflops_before_naive,
        "params": params,
        "backend_stats": stats,
        "parsed_verdicts": sum(v.valid for v in verdicts),
        "torch_threads": torch.get_num_threads(),
        "targets": {"speed_ratio": TARGET_RATIO, "mfu": TARGET_MFU},
        "targets_met": ratio >= TARGET_RATIO and mfu >= TARGET_MFU and not mismatches,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    print(f"naive loop : {t_naive:7.1f} s ({t_naive / args.n:.2f} s/prompt, MFU {mfu_naive:.0%})")
    print(f"batched    : {t_ours:7.1f} s median of {', '.join(f'{t:.1f}' for t, _ in runs)} "
          f"({t_ours / args.n:.2f} s/prompt); {stats['reused_prefix_tokens']} prompt "
          f"tokens served from the shared prefix, {stats['padded_prefill_tokens'] - stats['prefill_tokens']} padding")
    print(f"identical outputs: {not mismatches}" + (f" (differ at {mismatches})" if mismatches else ""))
    print(f"fp32 torch.mm: {', '.join(f'{g:.0f}' for _, g in runs)} GFLOP/s before the batched runs, "
          f"{gflops_before_naive:.0f} before the loop; MFU per run {', '.join(f'{m:.0%}' for m in mfus)}")
    print(f"useful tokens/s {useful / t_ours:.0f} "
          f"(all prompt+generated tokens/s {all_tokens / t_ours:.0f})")
    print(f"verdicts parsed: {result['parsed_verdicts']}/{args.n} (speed, not accuracy: the untrained 135M model "
          f"seldom ends with a verdict zero-shot, and {args.max_new_tokens} new tokens cut most answers before one)")
    print(f"targets (>= {TARGET_RATIO:.0f}x, MFU >= {TARGET_MFU:.0%}, identical): "
          f"{'met' if result['targets_met'] else 'NOT met'}")
    print(f"batched vs naive: {ratio:.2f}x, MFU {mfu:.0%}")
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
