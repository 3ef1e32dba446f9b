"""Evaluator throughput: the GenRM path end to end vs a naive loop, and the proxy's batched scoring.

GenRM mode, on RM-Bench chat from ../shared/data (`--prompts` 16 prompts x 9 cells x 2
orders = 288 judgments; the 16 shortest prompts unless `--select first`, so that the
slow naive loop fits in minutes on 2 cores) with the embedded SmolLM2-135M-Instruct,
float32, greedy:

- evaluator: `runner.run_suite` with a `GenRM` model, i.e. judge prompts, batched
  generation, verdict parsing, votes, the 3x3 wins and a per-item JSONL write as
  each prompt finishes;
- bare backend: `HFBackend.generate` on the same judge prompts. The evaluator's
  overhead is its time outside the backend call over the time inside it, both measured
  during the evaluator's own run (a separate bare run is reported too, but other jobs'
  load makes two runs minutes apart differ by more than the overhead);
- naive loop, measured in the same run: one comparison at a time, each order a
  `model.generate` on one prompt, then parsed (the loop a user writes first).

The three run interleaved, `--round` prompts (36 comparisons) at a time in alternating
order, so that the load of other jobs on a shared machine falls on all three alike. The
backend's batch (72) holds one round's 72 judgments: with 64, every round would end in a
decode group of 8 with its own loop of up to 128 decode steps, each reading every
weight for 8 rows. A run over a whole suite has that ragged tail once, in its last chunk; the
rounds would put it in every 72 judgments.

Decisions (the winner of every judgment) must be identical between the evaluator and
the naive loop. MFU = useful tokens/s x 2 x parameters / the fp32 `torch.mm`
throughput (mean of a measurement before and after), as in bench/judge_backend.py.

Proxy mode: log-likelihood of 256 BBQ options given their question, batched through
`loglikelihood_batch` vs one `loglikelihood` call at a time (values must agree).

    python bench/eval_throughput.py [--prompts 16] [--max-new-tokens 128] [--options 256] [--threads 1]
    python bench/eval_throughput.py --modes proxy

Writes bench/results/eval_throughput.json; the last line is the key figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from bench.judge_backend import naive_loop  # noqa: E402
from bench.perf import mm_gflops  # noqa: E402
from tqdm import tqdm  # noqa: E402

from genrm.backends.base import Sampling  # noqa: E402
from genrm.backends.hf import HFBackend  # noqa: E402
from genrm.evaluation.models import GenRM  # noqa: E402
from genrm.evaluation.runner import ResultsFile, run_suite  # noqa: E402
from genrm.judge.config import JudgeConfig  # noqa: E402
from genrm.evaluation.suites import rm_bench  # noqa: E402
from genrm.evaluation.judging import chosen_position_for, judge_messages  # noqa: E402
from genrm.judge.verdict import parse_verdict  # noqa: E402

DATA = Path(os.environ.get("GENRM_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGET_RATIO, TARGET_OVERHEAD, TARGET_PROXY = 4.0, 0.10, 3.0


class TimedBackend:
    """The backend with the seconds spent inside `generate` counted (the evaluator's overhead
    is everything else it does, measured in the same run)."""

    def __init__(self, backend: HFBackend):
        self.backend, self.seconds = backend, 0.0

    def generate(self, prompts, sampling):
        t = time.perf_counter()
        try:
            return self.backend.generate(prompts, sampling)
        finally:
            self.seconds += time.perf_counter() - t

    def __getattr__(self, name):
        return getattr(self.backend, name)


def _reset(backend: HFBackend) -> None:
    for k in backend.stats:
        backend.stats[k] = 0


def genrm_mode(backend: HFBackend, args, params: int) -> dict:
    items = rm_bench.load(str(DATA / "rm_bench" / "chat_filtered.json"))
    if args.select == "shortest":  # 2 CPU cores: the full-length prompts would take an hour per mode
        items.sort(key=lambda p: len(p.prompt) + sum(len(x) for x in p.chosen + p.rejected))
    items = items[: args.prompts]
    judge = JudgeConfig(max_new_tokens=args.max_new_tokens, chunk_size=args.chunk_size)
    timed = TimedBackend(backend)
    model = GenRM(timed, judge, seed=0)

    def judge_prompts(its) -> list:
        return [judge_messages(c, chosen_position_for(c, o)) for it in its for c in rm_bench.comparisons(it, 0)
                for o in model.orders]

    prompts = judge_prompts(items)
    lens = [len(backend.encode(p)) for p in prompts]
    print(f"GenRM: {len(items)} {args.select} RM-Bench chat prompts x 9 cells x {len(model.orders)} orders = "
          f"{len(prompts)} judgments ({sum(lens) / len(lens):.0f} prompt tokens on average), {args.max_new_tokens} "
          f"new tokens; rounds of {args.round} prompts; batch {backend.batch_size}, torch threads "
          f"{torch.get_num_threads()}")
    backend.generate(prompts[:2], Sampling(max_new_tokens=4))  # warm-up

    # Other jobs share this machine and its speed drifts by minutes: the three ways run
    # interleaved, round by round on the same prompts, in alternating order.
    secs = {"bare": 0.0, "evaluator": 0.0, "naive": 0.0}
    useful = 0
    eval_winners: list[str] = []
    naive_winners: list[str] = []
    bare_texts: list[str] = []
    naive_texts: list[str] = []
    g = mm_gflops()
    with tempfile.TemporaryDirectory() as d:
        rf = ResultsFile(os.path.join(d, "rm_bench.jsonl"))
        rounds = [items[k : k + args.round] for k in range(0, len(items), args.round)]
        for n, its in enumerate(tqdm(rounds, desc="rounds", unit="round")):
            ps = judge_prompts(its)
            for way in (("bare", "evaluator", "naive") if n % 2 == 0 else ("naive", "evaluator", "bare")):
                t = time.perf_counter()
                if way == "bare":
                    _reset(backend)
                    bare_texts += backend.generate(ps, model.sampling)
                    useful += backend.stats["prefill_tokens"] + backend.stats["decode_tokens"]
                elif way == "evaluator":
                    before = len(rf.read())
                    calls, _, written = run_suite(model, rm_bench, its, rf, 0, "evaluator")
                    assert calls == len(ps) and written == len(its)
                    rows = list(rf.read().values())[before:]
                    eval_winners += [j["winner"] for r in rows for c in r["comparisons"] for j in c["judgments"]]
                else:
                    texts = naive_loop(backend, ps, args.max_new_tokens)  # one prompt (one order) at a time
                    naive_texts += texts
                    naive_winners += [parse_verdict(x).winner for x in texts]
                secs[way] += time.perf_counter() - t
    g_after = mm_gflops()
    gflops = (g + g_after) / 2
    mismatches = [i for i, (a, b) in enumerate(zip(eval_winners, naive_winners)) if a != b]
    return {
        "prompts": len(items), "select": args.select, "judgments": len(prompts), "round_prompts": args.round,
        "mean_prompt_tokens": sum(lens) / len(lens), "max_new_tokens": args.max_new_tokens,
        "batch_size": backend.batch_size, "chunk_size": args.chunk_size,
        "seconds_evaluator": secs["evaluator"], "seconds_bare_backend": secs["bare"], "seconds_naive": secs["naive"],
        "speed_ratio": secs["naive"] / secs["evaluator"],
        "seconds_in_backend_during_evaluator": timed.seconds,
        "overhead": secs["evaluator"] / timed.seconds - 1.0,
        "overhead_vs_separate_bare_run": secs["evaluator"] / secs["bare"] - 1.0,
        "judgments_per_s_evaluator": len(prompts) / secs["evaluator"],
        "judgments_per_s_naive": len(prompts) / secs["naive"],
        "useful_tokens": useful,
        "mfu_evaluator": useful / secs["evaluator"] * 2 * params / (gflops * 1e9),
        "mfu_bare_backend": useful / secs["bare"] * 2 * params / (gflops * 1e9),
        "mm_fp32_gflops_before_after": [g, g_after],
        "identical_decisions": not mismatches and len(eval_winners) == len(naive_winners) == len(prompts),
        "mismatched_judgments": mismatches,
        "identical_texts_bare_vs_naive": sum(a == b for a, b in zip(bare_texts, naive_texts)),
        "parsed": sum(w != "invalid" for w in eval_winners),
    }


def bbq_pairs(n: int) -> list[tuple[list[dict], str]]:
    from genrm.evaluation.suites.social import group
    from genrm.data.sources import bbq

    pairs = []
    for it in group(bbq.load(str(DATA / "bbq" / "Age.jsonl"))):
        pairs.extend((it.prompt, o) for o in dict.fromkeys(p for pr in it.pairs for p in (pr.chosen, pr.rejected)))
        if len(pairs) >= n:
            return pairs[:n]
    raise SystemExit(f"only {len(pairs)} BBQ options found")


def proxy_mode(backend: HFBackend, n: int) -> dict:
    pairs = bbq_pairs(n)
    backend.loglikelihood_batch(pairs[:2])  # warm-up
    t = time.perf_counter()
    batched = backend.loglikelihood_batch(pairs)
    t_batched = time.perf_counter() - t
    t = time.perf_counter()
    single = [backend.loglikelihood(p, r) for p, r in pairs]
    t_single = time.perf_counter() - t
    worst = max(abs(a - b) for a, b in zip(batched, single))
    return {"options": len(pairs), "seconds_batched": t_batched, "seconds_one_at_a_time": t_single,
            "speed_ratio": t_single / t_batched, "max_abs_difference": worst, "agree": worst < 1e-3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--select", choices=("shortest", "first"), default="shortest",
                    help="which RM-Bench chat prompts: the shortest (default) or the first in the file")
    ap.add_argument("--max-new-tokens", type=int, default=128,
                    help="room for the reasons and the verdict (with 32 SmolLM2 writes no verdict)")
    ap.add_argument("--batch-size", type=int, default=72,
                    help="backend decode group: 72 holds one round's judgments (4 prompts x 9 cells x 2 orders)")
    ap.add_argument("--round", type=int, default=4, help="prompts per interleaved round")
    ap.add_argument("--chunk-size", type=int, default=64, help="comparisons per backend call in the evaluator")
    ap.add_argument("--options", type=int, default=256, help="BBQ options for the proxy mode")
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (1 runs several times faster on a 2-core machine other jobs share)")
    ap.add_argument("--modes", type=lambda v: [m for m in v.split(",") if m], default=["genrm", "proxy"],
                    help="genrm,proxy (one mode updates that part of an existing results file)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "eval_throughput.json"))
    args = ap.parse_args()
    if not (DATA / "rm_bench" / "chat_filtered.json").exists():
        raise SystemExit(f"{DATA}: the shared benchmark data was not found")

    if args.threads:
        torch.set_num_threads(args.threads)
    backend = HFBackend(args.model, dtype="float32", device="cpu", batch_size=args.batch_size)
    params = sum(p.numel() for p in backend.model.parameters())
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() and len(args.modes) < 2 else {}
    if "genrm" in args.modes:
        result["genrm"] = genrm_mode(backend, args, params)
    if "proxy" in args.modes:
        result["proxy"] = proxy_mode(backend, args.options)
    g, p = result.get("genrm"), result.get("proxy")
    checks = []
    if g:
        checks += [g["speed_ratio"] >= TARGET_RATIO, g["overhead"] <= TARGET_OVERHEAD, g["identical_decisions"]]
    if p:
        checks += [p["speed_ratio"] >= TARGET_PROXY, p["agree"]]
    result.update(params=params, torch_threads=torch.get_num_threads(), targets_met=bool(g and p and all(checks)),
                  targets={"speed_ratio": TARGET_RATIO, "overhead": TARGET_OVERHEAD, "proxy_ratio": TARGET_PROXY})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    if g:
        print(f"naive loop     : {g['seconds_naive']:7.1f} s ({g['judgments_per_s_naive']:.2f} judgments/s)")
        print(f"bare backend   : {g['seconds_bare_backend']:7.1f} s (MFU {g['mfu_bare_backend']:.0%})")
        print(f"evaluator      : {g['seconds_evaluator']:7.1f} s ({g['judgments_per_s_evaluator']:.2f} judgments/s, "
              f"MFU {g['mfu_evaluator']:.0%}); {g['seconds_in_backend_during_evaluator']:.1f} s of it in the backend "
              f"call: overhead {g['overhead']:+.2%} (vs the separate bare run {g['overhead_vs_separate_bare_run']:+.1%})")
        print(f"identical decisions: {g['identical_decisions']}"
              + (f" (differ at {g['mismatched_judgments'][:10]})" if g["mismatched_judgments"] else "")
              + f"; verdicts parsed {g['parsed']}/{g['judgments']}")
    if p:
        print(f"proxy: {p['options']} BBQ options, batched {p['seconds_batched']:.2f} s vs one at a time "
              f"{p['seconds_one_at_a_time']:.2f} s = {p['speed_ratio']:.2f}x (max |diff| {p['max_abs_difference']:.1e})")
    print(f"targets (>= {TARGET_RATIO:.0f}x naive, overhead <= {TARGET_OVERHEAD:.0%}, proxy >= {TARGET_PROXY:.0f}x, "
          f"identical): {'met' if result['targets_met'] else 'NOT met'}"
          + ("" if g and p else f" (only {'genrm' if g else 'proxy'} measured so far)"))
    parts = []
    if g:
        parts.append(f"evaluator vs naive: {g['speed_ratio']:.2f}x, overhead {g['overhead']:+.2%}")
    if p:
        parts.append(f"proxy batched {p['speed_ratio']:.2f}x")
    print(", ".join(parts))
    return 0 if (not g or g["identical_decisions"]) and (not p or p["agree"]) else 1


if __name__ == "__main__":
    sys.exit(main())
