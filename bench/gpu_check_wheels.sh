#!/usr/bin/env bash
# Fetch, here, what bench/gpu_check.sh installs on the GPU machine (Python 3.12, no network):
# the versions this checkout's venv runs, for the packages the device image lacks, and the
# embedded tokenizer (config and tokenizer files, no weights). About 10 MB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p .whl .gpucheck/cache/genrm/models/smollm2-135m   # both git-ignored
PLAT="--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
for pkg in trl datasets dill multiprocess omegaconf pydantic pydantic_core typing-inspection annotated-types \
           hjson fastapi starlette openai jiter distro sniffio gguf; do
  v=$($PY -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
  python3 -m pip download -q --no-deps $PLAT -d .whl "$pkg==$v"
done
# DeepSpeed ships as source only: a pure-Python wheel (ops JIT-built on the device if needed)
v=$($PY -m pip show deepspeed | sed -n 's/^Version: //p')
[ -e .whl/deepspeed-$v-py3-none-any.whl ] || DS_BUILD_OPS=0 $PY -m pip wheel -q --no-deps --no-build-isolation \
  "deepspeed==$v" -w .whl
src=$($PY -c "from genrm.assets import resolve_model; print(resolve_model('embedded:smollm2-135m'))")
cp "$src"/{config.json,generation_config.json,genrm_asset.json,tokenizer.json,tokenizer_config.json,chat_template.jinja} \
  .gpucheck/cache/genrm/models/smollm2-135m/
du -sh .whl .gpucheck
