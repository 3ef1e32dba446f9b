"""What every suite shares: seeded A/B placement and reading comparison results."""

from __future__ import annotations

import hashlib
from typing import Optional, Sequence

from genrm.evaluation.arith import won


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
