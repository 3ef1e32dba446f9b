"""Print the results tables of evaluation runs side by side.

    python evaluate/compare.py runs=[outputs/eval/base,outputs/eval/trained]

Reads each run's results.csv (one row per model, suite and metric; written beside
summary.json by evaluate/run.py), or its summary.json for older runs. A cell is
`value [95% CI] (n=...)`; '-' = no valid items; empty = not in that run.
"""

import sys
from dataclasses import dataclass, field

from genrm.config import cli_main, load_recipe


@dataclass
class CompareArgs:
    runs: list[str] = field(default_factory=list)  # evaluation output directories, one column each


SCHEMA = CompareArgs  # for --help and `genrm keys compare`


def main(argv: list[str]) -> int:
    from genrm.evaluation.table import side_by_side

    args = load_recipe(argv, schema=CompareArgs)
    if not args.runs:
        raise ValueError("runs=[dirA,dirB]: the evaluation output directories to compare")
    print(side_by_side(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main, errors=(ValueError, OSError), schema=SCHEMA, doc=__doc__))
