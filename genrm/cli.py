"""The `genrm` command: `genrm <subcommand> key=value ...`."""

from __future__ import annotations

import sys

COMMANDS = {"serve": "genrm.rlhf.server", "train": "genrm.training.launch"}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: genrm {{{','.join(COMMANDS)}}} key=value ...", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[args[0]]).main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
