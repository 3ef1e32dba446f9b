"""Pairwise verdicts to one scalar per completion (what a policy-gradient loop needs).

A GenRM compares two responses; GRPO/PPO want one number per completion. A strategy
says which comparisons to ask for (its *design*) and how to turn their verdicts into
scores (its *fit*). Costs are in judge calls (one call = one judge generation) for a
group of G completions of one prompt:

=====================  ===========================  ==========================================
strategy               judge calls                  score
=====================  ===========================  ==========================================
``reference``          2G                           mean outcome against the dataset's reference
                                                    answer, both orders (in [0, 1])
``round_robin``        G(G-1)                       win rate over every other member, both
                                                    orders (in [0, 1])
``bradley_terry``      G(G-1)                       Bradley-Terry log-strength fitted to the
                                                    round-robin outcomes (centred on 0)
``sampled_round_robin`` 2mG (for G > 2m+1; the full  win rate (or BT, ``fit="bradley_terry"``)
                        round robin when 2m >= G-1)  over 2m seeded-random opponents each
=====================  ===========================  ==========================================

Every comparison is asked in both orders (A/B swapped) so position bias cancels.

Outcomes. A verdict on a pair (i, j), mapped back to "i shown as A" with
`genrm.judge.verdict.flip_verdict` when j was shown first, gives i the outcome
``s = 1`` (i wins), ``0.5`` (tie: ``A=B``, ``[[C]]``, ``[[TIE]]``) or ``0`` (j wins),
and j gets ``1 - s``. Strengths: with ``strength="ignore"`` (default) ``A>>B`` and
``A>B`` are both a win; with ``strength="graded"`` ``A>>B`` = 1, ``A>B`` = 0.75,
``A=B`` = 0.5, ``B>A`` = 0.25, ``B>>A`` = 0 (answer-tag verdicts have no strength and
count as 1/0).

Failures. An invalid verdict (unparseable, hedged, see `genrm.judge.verdict`) and a failed
judge call (an error of `genrm.judge.pairs`: the backend call failed for good) are
*dropped*: they count neither as a loss nor as a tie, and are reported (``invalid``,
``failed``). A completion left without any
valid comparison scores ``None``; a group in which every call failed scores ``None``
for every member, never 0. TRL turns None into NaN (no advantage for that row).

Bradley-Terry. Strengths theta maximise
``sum s*log sigmoid(ti - tj) + (1 - s)*log sigmoid(tj - ti) - l2/2 * |theta|^2``
over the valid outcomes (a tie is half a win each way), solved with
`scipy.optimize.minimize` (L-BFGS-B, analytic gradient). The small L2 prior keeps an
undefeated member finite and pins the scale; scores are centred to mean 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from genrm.judge.verdict import BOXED_LABELS, Verdict, flip_verdict

REF = -1  # index of the reference answer in a comparison
STRATEGIES = ("reference", "round_robin", "bradley_terry", "sampled_round_robin")
Strength = Literal["ignore", "graded"]
_GRADED = {("A", 2): 1.0, ("A", 1): 0.75, ("B", 1): 0.25, ("B", 2): 0.0}


@dataclass(frozen=True)
class Pairing:
    """Which two members of a group one judge call compares: index `a` is shown as
    Response A, index `b` as B; REF stands for the reference answer."""

    a: int
    b: int


@dataclass
class GroupResult:
    scores: list[float | None]
    calls: int = 0  # judge calls made for this group
    failed: int = 0  # calls whose backend request failed (no text)
    invalid: int = 0  # calls answered with no readable verdict
    ties: int = 0
    consistent: int = 0  # pairs judged validly in both orders with the same winner
    both_orders: int = 0  # pairs judged validly in both orders
    outcomes: list[list[float]] = field(default_factory=list)  # valid outcomes per member

    @property
    def all_failed(self) -> bool:
        return self.calls > 0 and self.failed + self.invalid == self.calls

    def metrics(self) -> dict[str, float]:
        return {
            "judge_calls": float(self.calls),
            "failed_calls": float(self.failed),
            "invalid_verdicts": float(self.invalid),
            "ties": float(self.ties),
            "unscored": float(sum(s is None for s in self.scores)),
        }


def outcome(v: Verdict, strength: Strength = "ignore") -> float | None:
    """Outcome for the response shown as A: 1, 0.5, 0 (graded: see module doc); None if invalid."""
    if not v.valid:
        return None
    if v.winner == "tie":
        return 0.5
    if strength == "graded" and v.raw in BOXED_LABELS:  # answer tags ([[A]]) state no strength
        return _GRADED[(v.winner, v.strength)]
    return 1.0 if v.winner == "A" else 0.0


def _side(s: float) -> int:
    return (s > 0.5) - (s < 0.5)


class Strategy:
    """Design (which comparisons) + fit (scores from outcomes). Build with `make_strategy`."""

    needs_reference = False
    needs_group = True

    def __init__(self, name: str, strength: Strength = "ignore", fit: str = "win_rate", l2: float = 0.01):
        if strength not in ("ignore", "graded"):
            raise ValueError(f"unknown strength handling {strength!r}; known: ignore, graded")
        if fit not in ("win_rate", "bradley_terry"):
            raise ValueError(f"unknown fit {fit!r}; known: win_rate, bradley_terry")
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0 (it keeps Bradley-Terry strengths finite), got {l2}")
        self.name, self.strength, self.fit, self.l2 = name, strength, fit, l2

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, strength={self.strength!r}, fit={self.fit!r})"

    # -- design
    def pairs(self, n: int) -> list[tuple[int, int]]:
        raise NotImplementedError

    def comparisons(self, n: int) -> list[Pairing]:
        """Every pair of the design, in both orders."""
        out = []
        for i, j in self.pairs(n):
            out += [Pairing(i, j), Pairing(j, i)]
        return out

    def calls(self, n: int) -> int:
        return len(self.comparisons(n))

    # -- fit
    def score(self, n: int, comparisons: Sequence[Pairing], verdicts: Sequence[Verdict | None]) -> GroupResult:
        """Scores of the n members from the verdicts of `comparisons` (None = failed call)."""
        if len(comparisons) != len(verdicts):
            raise ValueError(f"{len(comparisons)} comparisons but {len(verdicts)} verdicts")
        res = GroupResult([None] * n, calls=len(comparisons), outcomes=[[] for _ in range(n)])
        pairs: list[tuple[int, int, float]] = []  # (i, j, outcome of i) with i < j; REF is -1
        seen: dict[tuple[int, int], float] = {}
        for c, v in zip(comparisons, verdicts):
            if v is None:
                res.failed += 1
                continue
            i, j = (c.a, c.b) if c.a < c.b else (c.b, c.a)
            canon = v if c.a == i else flip_verdict(v)  # as if i had been shown as A
            s = outcome(canon, self.strength)
            if s is None:
                res.invalid += 1
                continue
            res.ties += canon.winner == "tie"
            if (i, j) in seen:
                res.both_orders += 1
                res.consistent += _side(seen[(i, j)]) == _side(s)
            seen[(i, j)] = s
            pairs.append((i, j, s))
            if i != REF:
                res.outcomes[i].append(s)
            if j != REF:
                res.outcomes[j].append(1.0 - s)
        if self.fit == "bradley_terry":
            res.scores = bradley_terry(n, pairs, self.l2)
        else:
            res.scores = [float(np.mean(o)) if o else None for o in res.outcomes]
        return res


class ReferenceStrategy(Strategy):
    needs_reference = True
    needs_group = False

    def pairs(self, n: int) -> list[tuple[int, int]]:
        return [(i, REF) for i in range(n)]


class RoundRobinStrategy(Strategy):
    def pairs(self, n: int) -> list[tuple[int, int]]:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]


class SampledRoundRobinStrategy(Strategy):
    """Each member meets 2m others: a circulant design (offsets 1..m) on a seeded random
    permutation of the group, so who meets whom does not depend on generation order."""

    def __init__(self, name: str, rounds: int = 1, seed: int = 0, **kw):
        super().__init__(name, **kw)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.rounds, self._rng = rounds, random.Random(seed)

    def pairs(self, n: int) -> list[tuple[int, int]]:
        perm = list(range(n))
        self._rng.shuffle(perm)
        out: set[tuple[int, int]] = set()
        for d in range(1, min(self.rounds, n // 2) + 1):
            for k in range(n):
                i, j = perm[k], perm[(k + d) % n]
                out.add((min(i, j), max(i, j)))
        return sorted(out)

    def calls(self, n: int) -> int:  # exact, without drawing a permutation
        return min(n * (n - 1), 2 * self.rounds * n)


def make_strategy(
    name: str = "reference", *, strength: Strength = "ignore", rounds: int = 1, seed: int = 0,
    fit: str | None = None, l2: float = 0.01,
) -> Strategy:
    """A strategy by name (see the module doc); `rounds`/`seed`/`fit` apply to sampled_round_robin."""
    if name == "reference":
        return ReferenceStrategy(name, strength=strength, l2=l2)
    if name == "round_robin":
        return RoundRobinStrategy(name, strength=strength, l2=l2)
    if name == "bradley_terry":
        return RoundRobinStrategy(name, strength=strength, fit="bradley_terry", l2=l2)
    if name == "sampled_round_robin":
        return SampledRoundRobinStrategy(name, rounds=rounds, seed=seed, strength=strength, fit=fit or "win_rate", l2=l2)
    raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


def bradley_terry(n: int, outcomes: Sequence[tuple[int, int, float]], l2: float = 0.01) -> list[float | None]:
    """Centred BT log-strengths of members 0..n-1 from (i, j, outcome of i) triples;
    None for a member without any outcome. Outcomes against REF are ignored."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    obs = [(i, j, s) for i, j, s in outcomes if i != REF and j != REF]
    present = sorted({k for i, j, _ in obs for k in (i, j)})
    if not present:
        return [None] * n
    pos = {k: p for p, k in enumerate(present)}
    ii = np.array([pos[i] for i, _, _ in obs])
    jj = np.array([pos[j] for _, j, _ in obs])
    s = np.array([x for _, _, x in obs], dtype=float)

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[ii] - theta[jj]
        value = -(s * log_expit(d) + (1 - s) * log_expit(-d)).sum() + 0.5 * l2 * theta @ theta
        g = expit(d) - s  # d(-loglik)/d(d)
        grad = np.bincount(ii, g, len(present)) - np.bincount(jj, g, len(present)) + l2 * theta
        return float(value), grad

    fitted = minimize(nll, np.zeros(len(present)), jac=True, method="L-BFGS-B")
    theta = fitted.x - fitted.x.mean()
    out: list[float | None] = [None] * n
    for k, p in pos.items():
        out[k] = float(theta[p])
    return out
