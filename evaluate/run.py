"""Evaluate reward models (GenRM, scalar RM, LLM reward proxy) on the configured suites.

    python evaluate/run.py recipe=recipes/eval/embedded.yaml limit=8
    python evaluate/run.py recipe=recipes/eval/rm_bench.yaml models=[outputs/train/run1,embedded:smollm2-135m]
    python evaluate/run.py models=[embedded:smollm2-135m@proxy] suites=[social] \
        data.social.records=[outputs/data/embedded_default/eval.jsonl]

Writes <output_dir>/<model>/<suite>.jsonl as items finish (a rerun resumes), then
summary.json, results.csv (compare runs: evaluate/compare.py), report.md and plots/
(see genrm/evaluation/runner.py).
"""

import logging
import os
import sys

from genrm.config import cli_main, load_recipe
from genrm.evaluation.schema import EvalRecipe, expand_shortcuts

SCHEMA = EvalRecipe  # for --help and `genrm keys evaluate`


def main(argv: list[str]) -> int:
    from genrm.evaluation.report import headlines
    from genrm.evaluation.runner import run
    from genrm.evaluation.summary import format_headline_table, headline_rows

    recipe = load_recipe(expand_shortcuts(argv), schema=EvalRecipe)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    summary = run(recipe)
    print(headlines(summary))
    print("\n" + format_headline_table(headline_rows(summary)))
    out = recipe.output_dir
    print(f"report: {os.path.join(out, 'report.md')}  plots: {os.path.join(out, 'plots')}/  "
          f"per-item results: {out}/<model>/<suite>.jsonl")
    # Exit 1 when items failed for good (reported, not scored): a rerun retries them.
    return 1 if any(r["always"]["errors"] for per in summary["results"].values() for r in per.values()) else 0


if __name__ == "__main__":
    from genrm.data.rows import DataError
    from genrm.outputs import OutputDirError

    sys.exit(cli_main(main, errors=(DataError, OutputDirError, ValueError, OSError), schema=SCHEMA, doc=__doc__))
