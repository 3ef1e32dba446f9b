import json

import pytest

from genrm.judge.prompts import (
    JUDGE_STYLES,
    TemplateError,
    render_judge_messages,
    render_metajudge_messages,
    render_transcript,
)
from genrm.judge.verdict import parse_verdict


def test_rationale_style_messages_show_both_responses_and_ask_for_ordered_reasons_and_boxed_verdict():
    msgs = render_judge_messages("What is 2+2?", "It is 4.", "It is 5.")
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "What is 2+2?" in user
    assert user.index("[Response A]\nIt is 4.") < user.index("[Response B]\nIt is 5.")
    assert "most important reason first" in user
    assert "numbered list" in user
    for label in ("A>>B", "A>B", "A=B", "B>A", "B>>A"):
        assert label in user
    assert "\\boxed{X}" in user
    # The instructions themselves carry no complete verdict a model could copy twice.
    assert parse_verdict(user).error in ("no verdict", "malformed verdict")


@pytest.mark.parametrize("style", JUDGE_STYLES)
def test_fixed_instructions_come_first_so_backends_can_reuse_the_prefix(style):
    a = render_judge_messages("What is 2+2?", "It is 4.", "It is 5.", style=style)
    b = render_judge_messages("Name a prime.", "7", "8", style=style)
    assert a[0] == b[0] and a[0]["role"] == "system"  # identical for every pair
    assert "numbered list" in a[0]["content"] and "most important" in a[0]["content"]
    assert a[1]["content"].startswith("[Conversation]\n")  # what varies starts right after it


def test_answer_tag_style_asks_for_answer_tags():
    msgs = render_judge_messages("Q", "a", "b", style="answer-tag")
    user = msgs[-1]["content"]
    assert "<answer>[[A]]</answer>" in user and "<answer>[[B]]</answer>" in user
    assert "\\boxed" not in user


def test_multi_turn_prompt_is_a_transcript_with_roles():
    conv = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Name a prime."},
    ]
    assert render_transcript(conv) == "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello! How can I help?\n\nUser: Name a prime."
    user = render_judge_messages(conv, "7", "8")[1]["content"]
    assert "Assistant: Hello! How can I help?" in user and "User: Name a prime." in user


def test_jinja_syntax_inside_responses_is_shown_verbatim():
    msgs = render_judge_messages("Q {{ x }}", "use {% raw %} here", "b {# c #}")
    user = msgs[1]["content"]
    assert "Q {{ x }}" in user and "use {% raw %} here" in user and "b {# c #}" in user


def test_inline_template_without_blocks_is_a_single_user_message():
    msgs = render_judge_messages(
        [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "last"}],
        "AAA",
        "BBB",
        template="Q={{ question }} A={{ response_a }} B={{ response_b }} n={{ messages | length }}",
    )
    assert msgs == [{"role": "user", "content": "Q=last A=AAA B=BBB n=3"}]


def test_template_file_with_blocks(tmp_path):
    path = tmp_path / "judge.jinja"
    path.write_text("{% block system %}SYS {{ style }}{% endblock %}{% block user %}U {{ response_a }}|{{ response_b }}{% endblock %}")
    msgs = render_judge_messages("q", "a", "b", style="answer-tag", template=str(path))
    assert msgs == [{"role": "system", "content": "SYS answer-tag"}, {"role": "user", "content": "U a|b"}]


def test_template_errors_are_clear(tmp_path):
    with pytest.raises(TemplateError, match="does not exist"):
        render_judge_messages("q", "a", "b", template=str(tmp_path / "missing.jinja"))
    with pytest.raises(TemplateError, match="unknown variable"):
        render_judge_messages("q", "a", "b", template="{{ respnse_a }}")
    with pytest.raises(TemplateError, match="syntax error"):
        render_judge_messages("q", "a", "b", template="{% if %}")
    with pytest.raises(ValueError, match="unknown judge style"):
        render_judge_messages("q", "a", "b", style="pointwise")
    with pytest.raises(TypeError):
        render_judge_messages([{"role": "user"}], "a", "b")


def test_styles_constant():
    assert JUDGE_STYLES == ("rationale", "answer-tag")


def test_metajudge_prompt_numbers_units_and_lists_the_output_format():
    msgs = render_metajudge_messages(["A cites the law.", "B is\nrude."], ["A quotes the statute.", "B is polite.", "x"])
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "R1: A cites the law.\nR2: B is rude." in user
    assert "S1: A quotes the statute.\nS2: B is polite.\nS3: x" in user
    assert "R<i>@S<j>: <score>" in user
    assert "Output exactly 6 lines" in user and "end with R2@S3" in user
    assert "0, 0.25, 0.5, 0.75, 1" in user
    assert "vague" in user
    with pytest.raises(ValueError):
        render_metajudge_messages([], ["x"])


def test_real_rm_bench_prompt_renders(shared_data):
    row = json.loads((shared_data / "rm_bench" / "chat_filtered.json").read_text())[0]
    msgs = render_judge_messages(row["prompt"], row["chosen"][0], row["rejected"][0])
    user = msgs[1]["content"]
    assert row["prompt"].strip() in user
    assert row["chosen"][0].strip() in user and row["rejected"][0].strip() in user


def test_compact_template_keeps_the_verdict_format_in_a_fraction_of_the_tokens():
    """`judge.template: compact`: the pair in the same order, the rationale style's verdict,
    and about a third of the built-in prompt's length (for small fine-tuned judges)."""
    full = render_judge_messages("What is 2+2?", "It is 4.", "It is 5.")
    compact = render_judge_messages("What is 2+2?", "It is 4.", "It is 5.", template="compact")
    assert [m["role"] for m in compact] == ["system", "user"]
    user = compact[1]["content"]
    assert user.index("What is 2+2?") < user.index("[Response A]\nIt is 4.") < user.index("[Response B]\nIt is 5.")
    assert "\\boxed{A>B}" in compact[0]["content"] and "numbered reasons" in compact[0]["content"]
    assert len("".join(m["content"] for m in compact)) * 3 < len("".join(m["content"] for m in full))
    assert parse_verdict(user).error == "no verdict"  # the varying part carries no verdict to copy
    other = render_judge_messages("Name a prime.", "7", "8", template="compact")
    assert other[0] == compact[0]  # the fixed part comes first: prefix reuse


def test_inline_templates_render_sandboxed():
    """Issue 23: an inline template from a shared recipe could call os.system; the sandbox refuses."""
    attack = "{{ cycler.__init__.__globals__.os.system('echo pwned') }} {{ response_a }}"
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        render_judge_messages("q?", "a", "b", template=attack)
    ok = render_judge_messages("q?", "first", "second", template="A: {{ response_a }} B: {{ response_b }}")
    assert ok[-1]["content"] == "A: first B: second"
