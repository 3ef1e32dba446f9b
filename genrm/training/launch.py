"""`genrm train`: check the launcher config, then hand over to `accelerate launch`.

    genrm train --config_file accelerate_configs/deepspeed_zero3.yaml recipe=recipes/hybrid_qwen3_14b.yaml
    genrm train --config_file accelerate_configs/cpu.yaml --num_processes 2 recipe=recipes/smoke_cpu.yaml

`accelerate launch` reports a missing or malformed config file as a traceback; this
reads it first with accelerate's own loader and reports a problem in one `error:` line
(exit code 2), before any process starts or any weights load. Any other
`accelerate launch` option is passed through.
"""

from __future__ import annotations

import os
import subprocess
import sys

TRAIN_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train", "genrm.py")


def check_config(path: str) -> None:
    """Raise ValueError (one line) when accelerate cannot use the launcher config `path`."""
    from accelerate.commands.config.config_args import load_config_from_file

    if not os.path.isfile(path):
        raise ValueError(f"launcher config {path} does not exist (see accelerate_configs/)")
    try:
        load_config_from_file(path)
    except Exception as e:  # accelerate raises ValueError, TypeError, KeyError, yaml errors
        msg = str(e).strip().split("\n")[0] or type(e).__name__
        raise ValueError(f"launcher config {path} is not valid: {msg}") from None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config = None
    for i, a in enumerate(args):
        if a == "--config_file" and i + 1 < len(args):
            config = args[i + 1]
        elif a.startswith("--config_file="):
            config = a.split("=", 1)[1]
    if config is not None:
        try:
            check_config(config)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    launch_opts = [a for a in args if "=" not in a or a.startswith("--")]
    recipe_args = [a for a in args if "=" in a and not a.startswith("--")]
    if not os.path.isfile(TRAIN_SCRIPT):
        print(f"error: {TRAIN_SCRIPT} not found (genrm train runs from a source checkout)", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launch_opts, TRAIN_SCRIPT, *recipe_args]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
