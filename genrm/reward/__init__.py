"""Rewards: matchers of model reasons to human units, their metrics and defenses, and the
GRPO reward functions behind one factory."""
