"""Run `genrm serve` in a child process on a free 127.0.0.1 port (tests, benchmarks).

    with ServerProcess(["strategy.name=reference"], scripted_latency=0.01) as srv:
        httpx.post(srv.url + "/get_reward", json=...)

`scripted_latency=None` serves the backend the config names (e.g. the embedded
SmolLM2); a number serves `ScriptedBackend(call_latency=..., item_latency=...)`, a
deterministic judge (seconds per backend call, and per judge generation in it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from genrm.config import cli_main, load_recipe
from genrm.rlhf.server import ServeConfig, run
from genrm.testing.scripted_backend import ScriptedBackend


class ServerProcess:
    def __init__(self, overrides: list[str], scripted_latency: float | None = None, env: dict | None = None,
                 startup_timeout: float = 120.0, item_latency: float = 0.0):
        self.overrides, self.scripted_latency, self.item_latency = list(overrides), scripted_latency, item_latency
        self.env = {**os.environ, **(env or {})}
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.lines: deque[str] = deque(maxlen=400)  # the server's output, for failure messages

    def start(self) -> "ServerProcess":
        cmd = [sys.executable, "-m", "genrm.testing.serve_process"]
        if self.scripted_latency is not None:
            cmd += ["--scripted-latency", str(self.scripted_latency), "--item-latency", str(self.item_latency)]
        cmd += ["port=0", *self.overrides]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        ready = threading.Event()

        def pump() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.lines.append(line.rstrip())
                if line.startswith("genrm serve: listening on "):
                    self.url = line.split("listening on ", 1)[1].strip()
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while not ready.wait(0.1):
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError("server did not start:\n" + self.output())
        if not self.url:
            raise RuntimeError(f"server exited with {self.proc.wait()}:\n" + self.output())
        return self

    def output(self) -> str:
        return "\n".join(self.lines)

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.terminate()
        try:
            self.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description="genrm serve, optionally with the scripted judge backend")
    parser.add_argument("--scripted-latency", type=float, default=None)
    parser.add_argument("--item-latency", type=float, default=0.0)
    args, rest = parser.parse_known_args()

    backend = None
    if args.scripted_latency is not None:
        backend = ScriptedBackend(call_latency=args.scripted_latency, item_latency=args.item_latency)
    return cli_main(lambda a: run(load_recipe(a, ServeConfig), backend), rest)


if __name__ == "__main__":
    sys.exit(main())
