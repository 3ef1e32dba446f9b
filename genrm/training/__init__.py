"""GenRM training: an SFT warm start, then TRL GRPO on the hybrid reward (see run.py)."""
