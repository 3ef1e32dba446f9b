"""What every suite shares: seeded A/B placement and reading comparison results."""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Iterator, Optional, Sequence

from genrm.data.record import PreferenceRecord, from_dataset, read_jsonl
from genrm.judge.votes import won


def placement(seed: int, comparison_id: str) -> str:
    """Seeded, order-independent A/B position of the chosen response for one comparison."""
    digest = hashlib.sha256(f"{seed}:{comparison_id}".encode()).digest()
    return "A" if digest[0] % 2 == 0 else "B"


def votes(result: dict) -> list[int]:
    return [int(v) for v in result.get("votes") or []]


def is_won(result: dict) -> bool:
    """The comparison's chosen response won (votes sum above 0; ties and splits lose)."""
    return won(votes(result))


def first_error(results: Sequence[dict]) -> Optional[str]:
    for r in results:
        if r.get("error"):
            return str(r["error"])
    return None


def read_built(paths: Iterable[str]) -> Iterator[tuple[str, Iterable[PreferenceRecord]]]:
    """(path, records) per built input: a JSONL file, or a `save_to_disk` directory from
    data_prep/build.py (its `eval` split when it has splits)."""
    for path in paths:
        if os.path.isdir(path):
            import datasets

            ds = datasets.load_from_disk(path)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds["eval"] if "eval" in ds else ds[next(iter(ds))]
            yield path, from_dataset(ds)
        else:
            yield path, read_jsonl(path)
