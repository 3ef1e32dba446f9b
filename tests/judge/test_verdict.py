import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genrm.judge.verdict import (
    BOXED_LABELS,
    EOT_TOKENS,
    STYLES,
    TAG_LABELS,
    Verdict,
    extract_reasons,
    flip_label,
    flip_verdict,
    label_winner,
    parse_verdict,
    render_verdict,
    verdict_to_label,
)

MEANING = {"A>>B": ("A", 2), "A>B": ("A", 1), "A=B": ("tie", 0), "B>A": ("B", 1), "B>>A": ("B", 2)}

# A conservative oracle, independent of the parser: text that could hold a verdict
# expression of any kind (markup, a comparison of A and B, a verdict phrase).
MAYBE_VERDICT = re.compile(
    r"\\boxed|<answer|\[\[|[AB]\s*[<>=≫≻≪≺]|[<>=≫≻≪≺]\s*[AB]|verdict|decision|judg|winner|preference|choice"
    r"|better|preferred|winning",
    re.I,
)
# Reasoning text that holds no verdict expression.
reasoning = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300
).filter(lambda t: not MAYBE_VERDICT.search(t))
labels = st.sampled_from(BOXED_LABELS)
EOT = ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<eos>"]
tails = st.sampled_from(["", "\n", "  \n\n", ".", "<|im_end|>", "</s>", " <|endoftext|>\n", "$.", "**", "\n<eos>"])
# Whitespace and known end-of-turn tokens in any order and number.
eot_tails = st.lists(st.sampled_from(EOT + [" ", "\n", "\t"]), max_size=6).map("".join)


# -- property-based -------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(reasoning, labels, tails)
def test_any_reasoning_then_one_verdict_parses_to_that_verdict(text, label, tail):
    v = parse_verdict(f"{text}\n\\boxed{{{label}}}{tail}")
    assert (v.winner, v.strength, v.raw) == (*MEANING[label], label)
    assert v.error is None


@settings(max_examples=200, deadline=None)
@given(reasoning, labels, tails)
def test_same_verdict_repeated_in_reasoning_is_valid(text, label, tail):
    v = parse_verdict(f"I lean \\boxed{{{label}}} here. {text}\n\\boxed{{{label}}}{tail}")
    assert v.raw == label


@settings(max_examples=200, deadline=None)
@given(reasoning, labels, labels, reasoning)
def test_two_different_verdicts_anywhere_are_invalid(before, first, second, middle):
    if first == second:
        return
    v = parse_verdict(f"{before}\\boxed{{{first}}}{middle}\n\\boxed{{{second}}}")
    assert v.winner == "invalid" and v.strength == 0 and v.raw is None
    assert v.error == "conflicting verdicts"


@settings(max_examples=200, deadline=None)
@given(reasoning, st.sampled_from(["A", "B"]), tails)
def test_answer_tag_style_property(text, letter, tail):
    v = parse_verdict(f"{text}\n<answer>[[{letter}]]</answer>{tail}", style="answer-tag")
    assert (v.winner, v.strength, v.raw) == (letter, 1, f"[[{letter}]]")


@settings(max_examples=200, deadline=None)
@given(reasoning, labels, eot_tails)
def test_whitespace_and_end_of_turn_tokens_may_follow_the_verdict(text, label, tail):
    assert parse_verdict(f"{text}\n\\boxed{{{label}}}{tail}").raw == label
    assert parse_verdict(f"{text}\n<answer>[[A]]</answer>{tail}", style="answer-tag").raw == "[[A]]"


def _has_free_text(tail: str) -> bool:
    return re.search(r"[^\W_]", re.sub("|".join(map(re.escape, EOT_TOKENS)), "", tail)) is not None


@settings(max_examples=300, deadline=None)
@given(reasoning, labels, eot_tails, st.text(min_size=1, max_size=40).filter(_has_free_text))
def test_any_free_text_after_the_verdict_is_invalid(text, label, eot, tail):
    # Also when wrapped as a special token or hidden behind end-of-turn tokens.
    for after in (tail, f"<|{tail}|>", f"{eot}{tail}", f"<{tail}>"):
        assert parse_verdict(f"{text}\n\\boxed{{{label}}}{after}").winner == "invalid"
        assert parse_verdict(f"{text}\n<answer>[[B]]</answer>{after}", style="answer-tag").winner == "invalid"


def _expressions(letter: str, other: str) -> list[str]:
    return [
        f"{letter}>{other}", f"{letter} >> {other}", f"Response {letter} > Response {other}", f"{other}<{letter}",
        f"{other} << {letter}", f"{letter} ≻ {other}", f"[[{letter}]]", f"[[{letter.lower()}]]",
        f"Final verdict: {letter}", f"**Verdict:** Response {letter}", f"The winner is {letter}.",
        f"My decision - Assistant {letter}", f"Final verdict: {letter}>{other}",
    ]


# (a verdict expression outside the final form, the winner it names)
EXPRESSIONS = (
    [(e, "A") for e in _expressions("A", "B")]
    + [(e, "B") for e in _expressions("B", "A")]
    + [(e, "tie") for e in ("A=B", "B = A", "Response A = Response B", "[[TIE]]", "[[C]]", "Final verdict: tie")]
)
# Forms only the rationale style reads loosely (the answer-tag style parses its own tags strictly).
RATIONALE_ONLY = [("<answer>A</answer>", "A"), ("<answer> Response B </answer>", "B"), ("<answer>[[B]]</answer>", "B")]


def _insert(text: str, k: int, expr: str) -> str:
    k = min(k, len(text))
    return f"{text[:k]}\n{expr}\n{text[k:]}"


@settings(max_examples=400, deadline=None)
@given(reasoning, st.integers(0, 300), st.sampled_from(EXPRESSIONS + RATIONALE_ONLY), labels, tails)
def test_a_verdict_expression_that_disagrees_with_the_box_invalidates(text, k, expr_winner, label, tail):
    expr, winner = expr_winner
    v = parse_verdict(_insert(text, k, expr) + f"\n\\boxed{{{label}}}{tail}")
    if winner == MEANING[label][0]:
        assert (v.raw, v.error) == (label, None)
    else:
        assert (v.winner, v.raw, v.error) == ("invalid", None, "conflicting verdicts")


@settings(max_examples=300, deadline=None)
@given(reasoning, st.integers(0, 300), st.sampled_from(EXPRESSIONS), st.sampled_from(["A", "B", "TIE"]), tails)
def test_answer_tag_style_conflict_property(text, k, expr_winner, tag, tail):
    expr, winner = expr_winner
    v = parse_verdict(_insert(text, k, expr) + f"\n<answer>[[{tag}]]</answer>{tail}", style="answer-tag")
    if winner == {"A": "A", "B": "B", "TIE": "tie"}[tag]:
        assert v.raw == f"[[{tag}]]"
    else:
        assert (v.winner, v.error) == ("invalid", "conflicting verdicts")


@given(st.sampled_from(BOXED_LABELS + ("A", "B", "tie", "invalid", "[[A]]", "[[B]]", "[[TIE]]")))
def test_flip_is_an_involution(label):
    assert flip_label(flip_label(label)) == label


@given(reasoning, labels)
def test_flip_verdict_maps_swapped_order_back(text, label):
    v = parse_verdict(f"{text}\n\\boxed{{{label}}}")
    back = flip_verdict(v)
    assert back.raw == flip_label(label)
    assert back.strength == v.strength
    assert back.winner == {"A": "B", "B": "A", "tie": "tie"}[v.winner]
    assert flip_verdict(back) == v


@settings(max_examples=200, deadline=None)
@given(reasoning)
def test_text_without_verdict_is_invalid(text):
    assert parse_verdict(text).winner == "invalid"
    assert parse_verdict(text, style="answer-tag").winner == "invalid"


# -- adversarial strings ---------------------------------------------------------

ADVERSARIAL = [
    # (text, expected winner, expected raw)
    ("Initially \\boxed{B>A} looked right, but on reflection A is correct.\n\\boxed{A>B}", "invalid", None),
    ("A mentions \\boxed{A>B} style answers. A is accurate.\n\\boxed{A>B}", "A", "A>B"),
    ("1. A is right.\n\\boxed{A>>B}\n\n   \n", "A", "A>>B"),
    ("1. A is right.\n\\boxed{A>>B}<|im_end|>", "A", "A>>B"),
    ("1. A is right.\n\\boxed{A>>B}</s>", "A", "A>>B"),
    ("1. B is right.\n**Verdict:** \\boxed{B>>A}**", "B", "B>>A"),
    ("So the answer is $\\boxed{A=B}$.", "tie", "A=B"),
    ("\\[ \\boxed{B>A} \\]", "B", "B>A"),
    ("\\boxed{ B > A }", "B", "B>A"),
    ("\\boxed{a>>b}", "A", "A>>B"),  # letters are case-insensitive
    ("\\boxed{A>>>B}", "invalid", None),
    ("\\boxed{A>B>C}", "invalid", None),
    ("\\boxed{}", "invalid", None),
    ("\\boxed{\\text{A>B}}", "invalid", None),  # nested braces are malformed
    ("\\boxed{A>>>B} then \\boxed{A>B}", "invalid", None),  # a malformed mention poisons the output
    ("\\boxed{A>B} because A is right.", "invalid", None),  # not at the end
    ("\\boxed{A>B}\nI hope this helps!", "invalid", None),
    ("\\boxed{A>B} \\boxed{A>>B}", "invalid", None),  # strength differs: a different verdict
    ("A>B", "invalid", None),  # unboxed
    ("The better one is A. \\boxed A>B", "invalid", None),
    ("<think>maybe \\boxed{B>A}</think>\n1. A is right.\n\\boxed{A>B}", "invalid", None),
    ("\\boxed{A>B}\\boxed{A>B}", "A", "A>B"),
]


@pytest.mark.parametrize("text,winner,raw", ADVERSARIAL)
def test_adversarial_rationale_style(text, winner, raw):
    v = parse_verdict(text)
    assert (v.winner, v.raw) == (winner, raw)
    if winner == "invalid":
        assert v.error


# Only whitespace and known end-of-turn tokens (and markup closers) may follow the verdict.
TAILS = [
    ("\\boxed{A>B}<|actually B is better|>", False),
    ("\\boxed{A>B}<|B|>", False),
    ("\\boxed{A>B}<B>", False),
    ("\\boxed{A>B} (B)", False),
    ("\\boxed{A>B}</answer>", False),
    ("\\boxed{A>B}<|im_end|>x", False),
    ("\\boxed{A>B}\n---", False),
    ("\\boxed{A>B}<|im_end|><|endoftext|>", True),
    ("\\boxed{A>B}<|eot_id|>", True),
    ("\\boxed{A>B}<|end|>", True),
    ("\\boxed{A>B}<end_of_turn>\n<eos>", True),
    ("\\boxed{A>B}</s>", True),
    ("\\boxed{A>B}<\uff5cend\u2581of\u2581sentence\uff5c>", True),
    ("$\\boxed{A>B}$.", True),
    ("**\\boxed{A>B}**", True),
]


@pytest.mark.parametrize("text,valid", TAILS)
def test_what_may_follow_the_verdict(text, valid):
    v = parse_verdict("1. A is right.\n" + text)
    assert v.valid is valid
    if not valid:
        assert v.error == "verdict not at end"


# Verdict expressions outside the box: (text before a final \boxed{A>B}, valid?)
CONFLICTS = [
    ("Final verdict: B>A", False),
    ("[[B]]", False),
    ("[[b]]", False),
    ("[[TIE]]", False),
    ("1. B>>A in tone.", False),
    ("1. Accuracy: B > A.", False),
    ("Response B > Response A overall.", False),
    ("A<B", False),
    ("A ≺ B", False),
    ("A = B in length.", False),
    ("**Final Verdict:** Response B", False),
    ("**Final verdict**: B", False),
    ("Final verdict:\n\nResponse B", False),
    ("The winner is B.", False),
    ("The better response is Assistant B.", False),
    ("My decision: tie", False),
    ("<answer>B</answer>", False),
    ("<answer>[[B]]</answer>", False),
    ("<think>B>A? No.</think>", False),
    ("[[A]]", True),
    ("B<A", True),
    ("Final verdict: A>B.", True),  # the same winner; strength only has to agree between boxes
    ("Final verdict: Response A", True),
    ("<answer>Response A</answer>", True),
    # Not verdict expressions: prose, lowercase math, the task's own answers.
    ("1. Response B is better formatted, but Response A is correct.", True),
    ("1. Response B is more fluent; B reads better than A.", True),
    ("1. Response A's final answer: B, the correct option.", True),
    ("1. Response B wrongly claims a > b for all reals, and b=a fails too.", True),
    ("1. In my judgment, Response B is weaker.", True),
    ("1. Response B misreads the verdict of the court.", True),
    ("1. Response B's decision: to skip the proof.", True),
    ("Verdict: A tie is not warranted here.", True),
    ("1. The AB test in Response B compares BA>AB wrongly.", True),
    ("1. Response B cites [[Wikipedia]] links.", True),
    ("1. Response B uses <B>bold</B> and A<B> tags.", True),
]


@pytest.mark.parametrize("before,valid", CONFLICTS)
def test_verdict_expressions_outside_the_box(before, valid):
    v = parse_verdict(f"{before}\n\\boxed{{A>B}}")
    if valid:
        assert (v.raw, v.error) == ("A>B", None)
    else:
        assert (v.winner, v.error) == ("invalid", "conflicting verdicts")


@pytest.mark.parametrize("text", [None, "", "   \n", "<|im_end|>"])
def test_empty_outputs_are_invalid(text):
    v = parse_verdict(text)
    assert v.winner == "invalid" and v.strength == 0


ANSWER_TAG = [
    ("Reasons...\n<answer>[[A]]</answer>", "A", 1),
    ("Reasons...\n<answer> [[ b ]] </answer><|im_end|>", "B", 1),
    ("<answer>[[TIE]]</answer>", "tie", 0),
    ("<answer>[[C]]</answer>", "tie", 0),
    ("I first thought [[B]].\n<answer>[[A]]</answer>", "invalid", 0),
    ("Clearly [[A]].\n<answer>[[A]]</answer>", "A", 1),
    ("<answer>[[A]]</answer> and more text", "invalid", 0),
    ("<answer>[[A]]</answer>\n<answer>[[B]]</answer>", "invalid", 0),
    ("<answer>A</answer>", "invalid", 0),
    ("<answer>[[D]]</answer>", "invalid", 0),
    ("<answer>[[A]]", "invalid", 0),
    ("[[A]]", "invalid", 0),  # the tag is required
    ("reasons \\boxed{A>B}\n<answer>[[A]]</answer>", "A", 1),  # an agreeing box is fine
    ("reasons \\boxed{B>A}\n<answer>[[A]]</answer>", "invalid", 0),  # a disagreeing box is a hedge
    ("reasons \\boxed{A>>>B}\n<answer>[[A]]</answer>", "A", 1),  # a malformed box is not this style's verdict
    ("1. B>A on style.\n<answer>[[A]]</answer>", "invalid", 0),
    ("Final verdict: Response B\n<answer>[[A]]</answer>", "invalid", 0),
    ("Final verdict: Response A\n<answer>[[A]]</answer>", "A", 1),
    ("A=B on tone.\n<answer>[[TIE]]</answer>", "tie", 0),
    ("<answer>[[A]]</answer><|actually B is better|>", "invalid", 0),
    ("<answer>[[A]]</answer></answer>", "invalid", 0),
    ("<answer>[[B]]</answer>\n<|eot_id|>", "B", 1),
]


@pytest.mark.parametrize("text,winner,strength", ANSWER_TAG)
def test_answer_tag_adversarial(text, winner, strength):
    v = parse_verdict(text, style="answer-tag")
    assert (v.winner, v.strength) == (winner, strength)


def test_unknown_style_is_rejected():
    with pytest.raises(ValueError, match="style"):
        parse_verdict("\\boxed{A>B}", style="score")


# -- reasons ------------------------------------------------------------------------


def test_numbered_reasons_in_order_with_continuations_and_nested_bullets():
    text = (
        "Here is my analysis.\n\n"
        "1. **Accuracy**: Response A gives the correct year (1969).\n"
        "   It also names the mission, Apollo 11.\n"
        "2) Response B claims the landing was in 1971, which is wrong.\n"
        "   - it repeats the error twice\n"
        "3. Response B is shorter.\n\n"
        "Overall, A is better.\n\n"
        "Final verdict: \\boxed{A>>B}"
    )
    v = parse_verdict(text)
    assert v.raw == "A>>B"
    assert v.reasons == [
        "Accuracy: Response A gives the correct year (1969). It also names the mission, Apollo 11.",
        "Response B claims the landing was in 1971, which is wrong. it repeats the error twice",
        "Response B is shorter.",
    ]


def test_bulleted_reasons_with_star_dash_and_bullet_characters():
    text = "- A cites the statute.\n* B invents a case.\n\u2022 A is polite.\n- Verdict:\n\\boxed{A>B}"
    assert extract_reasons(text) == ["A cites the statute.", "B invents a case.", "A is polite."]


def test_duplicate_reasons_are_kept_in_order():
    assert extract_reasons("- A is correct.\n- A is correct.\n\\boxed{A>B}") == ["A is correct.", "A is correct."]


def test_sentence_fallback_without_a_list():
    text = "Response A answers the question directly. Response B ignores the context! Is B safe? No.\n\\boxed{A>B}"
    assert extract_reasons(text) == [
        "Response A answers the question directly.",
        "Response B ignores the context!",
        "Is B safe?",
        "No.",
    ]


def test_reasons_after_think_block_and_answer_tag_markup_dropped():
    text = "<think>Let me compare. A seems right.</think>\n1. A is right about X.\n2. B misreads Y.\n<answer>[[A]]</answer>"
    v = parse_verdict(text, style="answer-tag")
    assert v.winner == "A"
    assert v.reasons == ["A is right about X.", "B misreads Y."]


def test_reasons_are_extracted_even_when_the_verdict_is_invalid():
    v = parse_verdict("1. A is right.\n2. B is wrong.\n\\boxed{A>B} \\boxed{B>A}")
    assert v.winner == "invalid" and v.reasons == ["A is right.", "B is wrong."]


def test_horizontal_rule_and_bold_lines_are_not_bullets():
    assert extract_reasons("**Analysis**\n---\n1. A is right.\n\\boxed{A>B}") == ["A is right."]


# -- labels -------------------------------------------------------------------------


def test_flip_label_table_and_errors():
    assert [flip_label(x) for x in ("A>>B", "A>B", "A=B", "B>A", "B>>A", "A", "B", "tie", "invalid")] == [
        "B>>A", "B>A", "A=B", "A>B", "A>>B", "B", "A", "tie", "invalid",
    ]
    with pytest.raises(ValueError, match="A>>>B"):
        flip_label("A>>>B")


def test_flip_verdict_keeps_reasons_and_invalid_stays_invalid():
    v = Verdict("invalid", 0, None, ["x"], "no verdict")
    assert flip_verdict(v) == v
    w = flip_verdict(Verdict("A", 2, "A>>B", ["r1", "r2"]))
    assert (w.winner, w.strength, w.raw, w.reasons) == ("B", 2, "B>>A", ["r1", "r2"])


def test_verdict_to_label_and_label_winner():
    assert verdict_to_label(parse_verdict("\\boxed{A>>B}")) == "A>B"
    assert verdict_to_label(parse_verdict("\\boxed{B>A}")) == "B>A"
    assert verdict_to_label(parse_verdict("\\boxed{A=B}")) == "A=B"
    assert verdict_to_label(parse_verdict("nothing")) == "invalid"
    assert [label_winner(x) for x in ("A>B", "B>A", "A>>B", "a = b", "B", "tie", "TIE")] == [
        "A", "B", "A", "tie", "B", "tie", "tie",
    ]
    with pytest.raises(ValueError, match="unknown preference label"):
        label_winner("chosen")


# -- rendering: the inverse of parsing ------------------------------------------------

LABELS = {"rationale": BOXED_LABELS, "answer-tag": TAG_LABELS}
WINNERS = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B",
           "[[A]]": "A", "[[B]]": "B", "[[C]]": "tie", "[[TIE]]": "tie"}


@pytest.mark.parametrize("style", STYLES)
def test_render_then_parse_gives_every_label_of_the_style_back(style):
    for label in LABELS[style]:
        text = render_verdict(label, style)
        v = parse_verdict(text, style)
        assert v.valid and v.raw == label and v.winner == WINNERS[label], (label, text, v.error)
        # After reasons and before an end-of-turn token, as a judge writes it.
        v = parse_verdict(f"1. Response A cites the law.\n2. It is shorter.\n\n{text}<|im_end|>", style)
        assert v.raw == label and v.reasons == ["Response A cites the law.", "It is shorter."]
        # Parse, render again: the same text (the canonical form).
        assert render_verdict(parse_verdict(text, style).raw, style) == text


@pytest.mark.parametrize("style", STYLES)
def test_labels_of_the_other_style_and_winners_render_as_the_plain_form(style):
    for label in (*BOXED_LABELS, *TAG_LABELS, "A", "B", "tie", " a > b ", "[[tie]]"):
        v = parse_verdict(render_verdict(label, style), style)
        assert v.valid and v.winner == label_winner(label), label
    assert render_verdict("A>B", "answer-tag") == "<answer>[[A]]</answer>"  # what the template asks for
    assert render_verdict("A=B", "answer-tag") == "<answer>[[C]]</answer>"
    assert render_verdict("[[B]]") == "\\boxed{B>A}" and render_verdict("tie") == "\\boxed{A=B}"


def test_render_refuses_what_is_no_verdict():
    for bad in ("invalid", "A>>>B", "chosen", ""):
        with pytest.raises(ValueError):
            render_verdict(bad)
    with pytest.raises(ValueError, match="unknown judge style"):
        render_verdict("A>B", "pointwise")
