"""Old path of the verl adapter (`pkg://genrm.adapters.verl`); it lives in `genrm.rlhf.verl`."""
from genrm.rlhf.verl import compute_score, compute_score_async, reward_config  # noqa: F401
