"""Train a policy with TRL GRPO, a GenRM as the reward (see genrm/training/policy.py).

    python train/policy_grpo.py recipe=recipes/policy_grpo_smoke.yaml
    accelerate launch --config_file accelerate_configs/cpu.yaml --num_processes 2 \
        train/policy_grpo.py recipe=recipes/policy_grpo_smoke.yaml
    accelerate launch train/policy_grpo.py recipe=recipes/policy_grpo_qwen3_8b.yaml   # GPU, GenRM via vLLM
"""

import os
import sys

# This folder holds genrm.py (the GenRM trainer): drop it from the path so `genrm` is the library.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from genrm.config import cli_main  # noqa: E402
from genrm.training.policy import PolicyGRPORecipe as SCHEMA, train_policy  # noqa: E402

if __name__ == "__main__":
    from genrm.assets import ModelNotFoundError
    from genrm.data.record import RecordError
    from genrm.outputs import OutputDirError

    sys.exit(cli_main(train_policy, errors=(OutputDirError, RecordError, ModelNotFoundError), schema=SCHEMA,
                      doc=__doc__))
