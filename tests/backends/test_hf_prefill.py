"""The prefill chunk planner: contiguous chunks within the token budget and padding bound."""

import random

from genrm.backends.hf_prefill import plan_chunks


def _check(widths: list[int], budget: int, max_padding: float = 0.04) -> list[tuple[int, int]]:
    chunks = plan_chunks(widths, budget, max_padding)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(widths)
    assert all(b > a for a, b in chunks) and all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))
    for a, b in chunks:
        padded = (b - a) * widths[a]  # widths sorted longest first: the first sets the chunk's width
        assert b - a == 1 or padded <= budget
        assert padded - sum(widths[a:b]) <= max_padding * padded
    return chunks


def test_equal_widths_fill_the_budget():
    assert _check([10] * 7, 30) == [(0, 3), (3, 6), (6, 7)]


def test_padding_bound_cuts_a_chunk():
    # 100 + 97 pads 3 of 200 tokens (1.5%); adding 80 would pad 23 of 300 (7.7% > 4%)
    assert _check([100, 97, 80, 80], 1000) == [(0, 2), (2, 4)]


def test_a_prompt_over_the_budget_runs_alone():
    assert _check([500, 40, 40], 100) == [(0, 1), (1, 3)]


def test_random_widths_keep_both_bounds():
    rng = random.Random(0)
    for _ in range(200):
        widths = sorted((rng.randint(1, 400) for _ in range(rng.randint(1, 60))), reverse=True)
        _check(widths, rng.choice([64, 256, 2048]), rng.choice([0.0, 0.04, 0.2]))
