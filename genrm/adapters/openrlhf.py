"""Old path of the OpenRLHF adapter (`--reward.remote_url` names this file, OpenRLHF loads
`reward_func` from it); it lives in `genrm/rlhf/openrlhf.py`."""
from genrm.rlhf.openrlhf import reward_func  # noqa: F401
