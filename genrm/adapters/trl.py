"""Old path of the TRL adapter; it lives in `genrm.rlhf.trl`."""
from genrm.rlhf.trl import GenRMReward, split_groups  # noqa: F401
