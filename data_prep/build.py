"""Build a preference-record mixture from a data recipe.

    python data_prep/build.py recipe=recipes/data/embedded_default.yaml [key=value ...] [--debug]
    python data_prep/build.py name=own "sources=[{name: generic, path: tests/fixtures/generic/own_pairs.jsonl}]"
    python data_prep/build.py recipe=recipes/data/embedded_default.yaml units.method=none overwrite=true

Writes output_dir/ (train.jsonl, eval.jsonl, hf/, stats.json, and the data card stats.md).
Bad input ends in one `error: ...` line and exit code 2 (GENRM_DEBUG=1 or --debug shows
the traceback); the previous build in output_dir is kept whole.
"""

import logging
import sys

from genrm.data.build import build, stats_markdown
from genrm.data.recipe import BuildRecipe, sources_help
from genrm.config import cli_main, load_recipe
from genrm.outputs import OutputDirError
from genrm.data.record import RecordError
from genrm.data.units import DecomposeError

SCHEMA, EXTRA_HELP = BuildRecipe, sources_help  # for --help and `genrm keys build`


def run(argv: list[str]) -> int:
    result = build(load_recipe(argv, SCHEMA))
    print(stats_markdown(result.stats))
    print(f"wrote {result.output_dir} (train.jsonl, eval.jsonl, hf/, stats.json, stats.md)")
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")  # warnings: one line each
    return cli_main(run, argv, errors=(RecordError, DecomposeError, OutputDirError, OSError), schema=SCHEMA,
                    doc=__doc__, extra_help=EXTRA_HELP)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
