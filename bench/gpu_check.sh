#!/usr/bin/env bash
# The GPU check (issue 21): run it first whenever a GPU machine is lent. No network there and
# no weights travel: random-init models are built on the device. Wheels the device image lacks
# (TRL, datasets, DeepSpeed, ...) travel in .whl (made here by bench/gpu_check_wheels.sh), and
# the embedded SmolLM2's tokenizer (no weights) in .gpucheck/cache.
#   device: run command="bash bench/gpu_check.sh" carry=[".whl", ".gpucheck"]
set -uo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
[ -d .gpucheck/cache ] && export XDG_CACHE_HOME="$PWD/.gpucheck/cache"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 DS_ACCELERATOR=cuda
exec python3 bench/gpu_check.py "$@"
