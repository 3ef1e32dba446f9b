"""Train a generative reward model: an SFT warm start, then GRPO on the hybrid reward.

    accelerate launch [--config_file accelerate_configs/<x>.yaml] train/genrm.py recipe=recipes/<name>.yaml key=value ...
    python train/genrm.py recipe=recipes/smoke_cpu.yaml dry_run=true
"""

import os
import sys

# This file is named like the package: drop its folder from the path so `genrm` is the library.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from genrm.data.errors import DataError
from genrm.config import cli_main
from genrm.outputs import OutputDirError
from genrm.data.record import RecordError
from genrm.training.run import train

if __name__ == "__main__":
    sys.exit(cli_main(train, errors=(OutputDirError, RecordError, DataError)))
