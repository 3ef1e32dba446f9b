import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENRM_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo (real benchmark data; never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real benchmark data not found at {SHARED_DATA}; CI runs with ../shared beside the clone")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded SmolLM2 tokenizer (tiny test models share its vocabulary and chat template).
    Defined here, not in tests/backends/conftest.py: a GPU machine's pytest dropped that
    conftest for test_vllm.py when files of two folders were named on one command line."""
    from genrm.testing import smollm2_tokenizer

    return smollm2_tokenizer()
