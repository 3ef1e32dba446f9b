"""Reward server under load: 1,000 OpenRLHF-style requests from 50 concurrent clients.

`genrm serve` runs as a child process on 127.0.0.1 with the scripted judge backend
(deterministic verdicts: the larger number in the responses wins), so the server
itself is measured, not a model. The backend costs `--call-ms` per backend call plus
`--item-ms` per judge generation in it, one call at a time, like a model on one
device; the `reference` strategy makes 2 judge calls per request.

Each request is one query (`POST /get_reward`, as OpenRLHF's rollout workers send)
with its own response and reference numbers, so its expected reward is known. Checks:
every request answered once with status 200 and its own expected reward (none lost,
none mixed up), and the server counted exactly the requests sent and 2 judge calls
per request (none judged twice).

Two runs in the same invocation, same backend, same requests:
- batching on: up to `--max-batch` judge calls per backend call, `--max-wait-ms` wait;
- batching off (the baseline): one request's calls per backend call, no wait.
Also reported: the server alone (`--call-ms 0 --item-ms 0`), batching on.

    python bench/reward_server.py [--requests 1000] [--clients 50] [--call-ms 10] [--item-ms 0.1]

Writes bench/results/reward_server.json; the last line is the key figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from tqdm import tqdm  # noqa: E402

from genrm.testing.serve_process import ServerProcess  # noqa: E402

PROMPT = "<|im_start|>user\nWrite a number.<|im_end|>\n<|im_start|>assistant\n"


def _requests(n: int, seed: int) -> list[tuple[dict, float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k, r = rng.randint(0, 99), rng.randint(0, 99)
        body = {"query": [PROMPT + f"score {k}<|im_end|>"], "prompts": [PROMPT], "labels": [f"score {r}"]}
        out.append((body, 1.0 if k > r else 0.5 if k == r else 0.0))
    return out


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _load(url: str, reqs: list[tuple[dict, float]], clients: int, label: str) -> dict:
    import aiohttp  # the client OpenRLHF's rollout workers use

    queue: asyncio.Queue = asyncio.Queue()
    for i in range(len(reqs)):
        queue.put_nowait(i)
    answers: dict[int, list] = {i: [] for i in range(len(reqs))}
    latencies: list[float] = []
    bar = tqdm(total=len(reqs), desc=label, leave=False)
    timeout = aiohttp.ClientTimeout(total=180)
    # One session (connection) per client, opened before the clock starts.
    sessions = [aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=1)) for _ in range(clients)]

    async def client(http) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                async with http.post(url + "/get_reward", json=reqs[i][0]) as r:
                    body = await r.json() if r.status == 200 else await r.text()
                    answers[i].append((r.status, body["rewards"] if r.status == 200 else body))
            except aiohttp.ClientError as e:
                answers[i].append((0, repr(e)))
            latencies.append(time.perf_counter() - t0)
            bar.update()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(s) for s in sessions))
    wall = time.perf_counter() - t0
    await asyncio.gather(*(s.close() for s in sessions))
    bar.close()
    ok = sum(1 for i, a in answers.items() if len(a) == 1 and a[0][0] == 200)
    wrong = [i for i, a in answers.items() if a and a[0][0] == 200 and a[0][1] != [reqs[i][1]]]
    lat = sorted(latencies)
    return {"requests": len(reqs), "ok": ok, "lost": sum(1 for a in answers.values() if not a or a[0][0] != 200),
            "answered_twice": sum(1 for a in answers.values() if len(a) > 1), "wrong_reward": len(wrong),
            "seconds": wall, "throughput_rps": len(reqs) / wall,
            "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))]}


def run(label: str, overrides: list[str], call_ms: float, item_ms: float, reqs, clients: int) -> dict:
    with ServerProcess(["log_level=warning", "strategy.name=reference", *overrides], scripted_latency=call_ms / 1000,
                       item_latency=item_ms / 1000) as srv:
        httpx.post(srv.url + "/get_reward", json=reqs[0][0], timeout=60)  # warm-up (not counted below)
        before = httpx.get(srv.url + "/metrics").text
        res = asyncio.run(_load(srv.url, reqs, clients, label))
        after = httpx.get(srv.url + "/metrics").text
    name = 'genrm_requests_total{endpoint="/get_reward",status="200"}'
    res["server_requests"] = _metric(after, name) - _metric(before, name)
    res["server_judge_calls"] = _metric(after, "genrm_judge_calls_total") - _metric(before, "genrm_judge_calls_total")
    batches = _metric(after, "genrm_batch_judge_calls_count") - _metric(before, "genrm_batch_judge_calls_count")
    res["backend_calls"] = batches
    res["judge_calls_per_backend_call"] = res["server_judge_calls"] / batches if batches else 0.0
    res["checks_pass"] = (res["ok"] == res["requests"] and res["lost"] == 0 and res["answered_twice"] == 0
                          and res["wrong_reward"] == 0 and res["server_requests"] == res["requests"]
                          and res["server_judge_calls"] == 2 * res["requests"])
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--call-ms", type=float, default=10.0)
    ap.add_argument("--item-ms", type=float, default=0.1)
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--max-wait-ms", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "reward_server.json"))
    args = ap.parse_args()
    reqs = _requests(args.requests, args.seed)
    on = [f"batching.max_batch={args.max_batch}", f"batching.max_wait_ms={args.max_wait_ms}"]
    off = ["batching.max_batch=1", "batching.max_wait_ms=0"]
    load0 = os.getloadavg()[0]
    results = {
        "batching_on": run("batching on", on, args.call_ms, args.item_ms, reqs, args.clients),
        "batching_off": run("batching off", off, args.call_ms, args.item_ms, reqs, args.clients),
        "server_only": run("server only", on, 0.0, 0.0, reqs, args.clients),
    }
    gain = results["batching_on"]["throughput_rps"] / results["batching_off"]["throughput_rps"]
    out = {"config": vars(args), "load_average_1m": [load0, os.getloadavg()[0]], "cpus": os.cpu_count(),
           "batching_gain": gain, **results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"{args.requests} requests, {args.clients} concurrent clients, backend {args.call_ms} ms/call + "
          f"{args.item_ms} ms/judge call, 2 judge calls/request; load average {load0:.1f} on {os.cpu_count()} CPUs")
    for name, r in results.items():
        print(f"{name:13s}: {r['throughput_rps']:7.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
              f"{r['judge_calls_per_backend_call']:5.1f} judge calls/backend call  lost {r['lost']}  "
              f"twice {r['answered_twice']}  wrong {r['wrong_reward']}  checks {'pass' if r['checks_pass'] else 'FAIL'}")
    print(f"batching on vs off: {gain:.2f}x throughput ({results['batching_on']['throughput_rps']:.0f} vs "
          f"{results['batching_off']['throughput_rps']:.0f} req/s), all checks "
          f"{'pass' if all(r['checks_pass'] for r in results.values()) else 'FAIL'}")
    return 0 if all(r["checks_pass"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
