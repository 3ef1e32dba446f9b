"""Run the study: base / SFT / outcome-only / hybrid / rationale-only GenRMs over seeds,
measured on a held-out split, reported with intervals (study.md, study.json, plots).

    python train/study.py recipe=recipes/study/toy_cpu.yaml
    python train/study.py recipe=recipes/study/toy_cpu.yaml dry_run=true   # the grid and a time estimate

A killed study resumes where it stopped when run again with the same recipe.
"""

import os
import sys

# train/genrm.py is named like the package: drop this folder from the path so `genrm` is the library.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from genrm.config import cli_main  # noqa: E402
from genrm.study.recipe import StudyRecipe as SCHEMA  # noqa: E402


def main(argv: list[str]) -> int:
    from genrm.study.run import run_study  # torch and TRL: not for --help

    return run_study(argv)


if __name__ == "__main__":
    from genrm.data.errors import DataError
    from genrm.data.record import RecordError
    from genrm.outputs import OutputDirError

    sys.exit(cli_main(main, errors=(OutputDirError, RecordError, DataError), schema=SCHEMA, doc=__doc__))
