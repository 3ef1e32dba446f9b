"""Build a preference-record mixture from a data recipe.

    python data_prep/build.py recipe=recipes/data/embedded_default.yaml [key=value ...]
"""

import sys

from genrm.build import DEFAULTS, build, stats_markdown
from genrm.config import RecipeError, load_recipe, to_container
from genrm.record import RecordError
from genrm.units import DecomposeError


def main(argv: list[str]) -> int:
    try:
        cfg = to_container(load_recipe(argv, defaults=DEFAULTS))
        result = build(cfg)
    except (RecipeError, RecordError, DecomposeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(stats_markdown(result.stats))
    print(f"wrote {result.output_dir} (train.jsonl, eval.jsonl, hf/, stats.json, stats.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
