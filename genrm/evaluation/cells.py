"""How the report and the plots read and show one value of a summary (shared by both)."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from genrm.evaluation.missing import Missing, missing_at


class Figure(NamedTuple):
    """A rate shown with its interval and count: `65.6 [56.3, 74.0] (n=96)`."""

    value: float
    ci: Optional[list]
    n: Any


def get(d: Any, *keys: Any) -> Any:
    """The value at `keys`; a Missing (shown `- (why)`) where it is null for a recorded reason."""
    for k in keys[:-1]:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return missing_at(d, keys[-1]) if keys else d


def fmt(v: Any) -> str:
    """One cell: `- (why)` for a missing value, `-` for none, a Figure with its interval and n."""
    if isinstance(v, Missing):
        return f"- ({v})"
    if v is None:
        return "-"
    if isinstance(v, Figure):
        ci = f" [{v.ci[0]:.1f}, {v.ci[1]:.1f}]" if v.ci else ""
        return f"{v.value:.1f}{ci} (n={v.n})"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


RB2_PROTOCOLS = (  # (key, label, what it is); reported apart, never mixed in one number
    ("scores", "RM scores", "every completion scored once (scalar RM / proxy)"),
    ("pairwise", "pairwise", "ours: the correct completion against each incorrect one, in both orders, won when it "
                             "wins all; Ties on round-robin scores"),
    ("ranking", "4-way ranking", "official generative prompt, placement seeded, unparsable = 0.25; Ties by ratings"),
    ("ratings", "ratings", "official 1-10 rating per completion, unparsable = -1"),
)


