"""genrm: data prep, GRPO training and evaluation for generative reward models."""

__version__ = "0.1.0"
