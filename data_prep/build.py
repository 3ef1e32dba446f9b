"""Build a preference-record mixture from a data recipe.

    python data_prep/build.py recipe=recipes/data/embedded_default.yaml [key=value ...]
"""

import sys

from genrm.build import BuildRecipe, build, stats_markdown
from genrm.config import cli_main, load_recipe, to_dict
from genrm.record import RecordError
from genrm.units import DecomposeError


def run(argv: list[str]) -> int:
    result = build(to_dict(load_recipe(argv, BuildRecipe)))
    print(stats_markdown(result.stats))
    print(f"wrote {result.output_dir} (train.jsonl, eval.jsonl, hf/, stats.json, stats.md)")
    return 0


def main(argv: list[str]) -> int:
    return cli_main(run, argv, errors=(RecordError, DecomposeError))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
