"""`genrm train`: check the launcher config, then hand over to `accelerate launch`.

    genrm train --config_file accelerate_configs/deepspeed_zero3.yaml recipe=recipes/hybrid_qwen3_14b.yaml
    genrm train --config_file accelerate_configs/cpu.yaml --num_processes 2 recipe=recipes/smoke_cpu.yaml

`accelerate launch` reports a missing or malformed config file as a traceback; this
reads it first with accelerate's own loader and reports a problem in one `error:` line
(exit code 2), before any process starts or any weights load. Any other
`accelerate launch` option is passed through. A dry run (`dry_run=true`) starts no processes:
it runs once here with the environment the launcher would set (processes, ZeRO stage or FSDP,
offload), so its GPU plan is the plan of that launch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

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


def launch_env(config_file: Optional[str], num_processes: Optional[int]) -> dict[str, str]:
    """The variables `accelerate launch` would set for this launcher config (the ones
    genrm.training.gpu_plan.launch_from_env reads), so a dry run in one process plans for it."""
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(config_file) if config_file else None
    n = num_processes or (getattr(cfg, "num_processes", None) or 1)
    env = {"WORLD_SIZE": str(n)}
    if cfg is None:
        return env
    env["ACCELERATE_USE_CPU"] = str(bool(getattr(cfg, "use_cpu", False))).lower()
    env["ACCELERATE_MIXED_PRECISION"] = str(getattr(cfg, "mixed_precision", "no"))
    kind = str(getattr(cfg, "distributed_type", ""))
    ds, fs = getattr(cfg, "deepspeed_config", None) or {}, getattr(cfg, "fsdp_config", None) or {}
    if kind.endswith("DEEPSPEED"):
        env.update(ACCELERATE_USE_DEEPSPEED="true", ACCELERATE_DEEPSPEED_ZERO_STAGE=str(ds.get("zero_stage", 2)),
                   ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE=str(ds.get("offload_optimizer_device", "none")),
                   ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE=str(ds.get("offload_param_device", "none")))
    elif kind.endswith("FSDP"):
        env.update(ACCELERATE_USE_FSDP="true", FSDP_SHARDING_STRATEGY=str(fs.get("fsdp_sharding_strategy", "FULL_SHARD")),
                   FSDP_RESHARD_AFTER_FORWARD=str(fs.get("fsdp_reshard_after_forward", True)).lower(),
                   FSDP_OFFLOAD_PARAMS=str(fs.get("fsdp_offload_params", False)).lower(),
                   FSDP_STATE_DICT_TYPE=str(fs.get("fsdp_state_dict_type", "FULL_STATE_DICT")))
    return env


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
    if any(a.replace(" ", "").lower() == "dry_run=true" for a in recipe_args):
        return subprocess.call([sys.executable, TRAIN_SCRIPT, *recipe_args],
                               env={**os.environ, **launch_env(config, _num_processes(args))})
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launch_opts, TRAIN_SCRIPT, *recipe_args]
    return subprocess.call(cmd)


def _num_processes(args: list[str]) -> int | None:
    for i, a in enumerate(args):
        if a == "--num_processes" and i + 1 < len(args):
            return int(args[i + 1])
        if a.startswith("--num_processes="):
            return int(a.split("=", 1)[1])
    return None


if __name__ == "__main__":
    sys.exit(main())
