"""Test helpers that ship with the package (usable by downstream users' tests too)."""

from genrm.testing.fake_openai_server import FakeOpenAIServer
from genrm.testing.tiny import smollm2_tokenizer, tiny_causal_lm

__all__ = ["FakeOpenAIServer", "smollm2_tokenizer", "tiny_causal_lm"]
