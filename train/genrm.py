"""Train a generative reward model: an SFT warm start, then GRPO on the hybrid reward.

    genrm train recipe=recipes/smoke_cpu.yaml                     # = accelerate launch train/genrm.py ...
    accelerate launch [--config_file accelerate_configs/<x>.yaml] train/genrm.py recipe=recipes/<name>.yaml key=value ...
    python train/genrm.py recipe=recipes/smoke_cpu.yaml dry_run=true print_recipe=true
    python train/genrm.py recipe=recipes/smoke_cpu.yaml data.path=outputs/data/own   # your built data

The output directory (output_dir) gets recipe.yaml, plan.json, the checkpoints and the
final model; a dry run prints the plan and writes nothing. Recipes: `genrm recipes`.
"""

import os
import sys

# This file is named like the package: drop its folder from the path so `genrm` is the library.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from genrm.config import cli_main  # noqa: E402
from genrm.training.recipe import TrainRecipe as SCHEMA  # noqa: E402


def main(argv: list[str]) -> int:
    from genrm.training.run import train  # torch and TRL: not for --help

    return train(argv)


if __name__ == "__main__":
    from genrm.assets import ModelNotFoundError
    from genrm.data.errors import DataError
    from genrm.data.record import RecordError
    from genrm.outputs import OutputDirError

    sys.exit(cli_main(main, errors=(OutputDirError, RecordError, DataError, ModelNotFoundError), schema=SCHEMA,
                      doc=__doc__))
