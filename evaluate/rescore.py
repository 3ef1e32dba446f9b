"""Recompute every metric from saved per-item results, without running a model.

    python evaluate/rescore.py input=outputs/eval/embedded format=genrm [output_dir=...]
    python evaluate/rescore.py input=judge_outputs.jsonl format=judgebench
    python evaluate/rescore.py input=rm_bench_results.jsonl format=rm_bench
    python evaluate/rescore.py input=picks.jsonl format=bbq_picks bbq_dir=../shared/data/bbq
    python evaluate/rescore.py input=rb2_scores.jsonl format=rewardbench2   # or format=best_of_n

Prints the summary as JSON on stdout; with output_dir=... also writes the report files.
"""

import json
import sys
from dataclasses import dataclass
from typing import Literal, Optional

from genrm.config import cli_main, load_recipe


@dataclass
class RescoreArgs:
    input: str  # saved per-item results: an evaluation output directory or a .jsonl
    format: Literal["genrm", "judgebench", "rm_bench", "bbq_picks", "rewardbench2",
                    "best_of_n"] = "genrm"  # what `input` holds
    bbq_dir: Optional[str] = None  # format=bbq_picks: the BBQ data directory
    output_dir: Optional[str] = None  # also write the report files here


SCHEMA = RescoreArgs  # for --help and `genrm keys rescore`


def main(argv: list[str]) -> int:
    from genrm.evaluation.rescore import rescore, write_outputs

    args = load_recipe(argv, schema=RescoreArgs)
    summary = rescore(args.input, args.format, bbq_dir=args.bbq_dir)
    print(json.dumps(summary, indent=1))
    if args.output_dir:
        write_outputs(summary, args.format, args.output_dir)
    return 0


if __name__ == "__main__":
    from genrm.data.rows import DataError
    from genrm.outputs import OutputDirError

    sys.exit(cli_main(main, errors=(DataError, OutputDirError, ValueError, OSError), schema=SCHEMA, doc=__doc__))
