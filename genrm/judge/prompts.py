"""Judge and MetaJudge prompts, rendered from Jinja templates kept as data.

A template is a `.jinja` file (the defaults live in `genrm/judge/templates/`) or an
inline Jinja string. A template with `{% block system %}` and `{% block user %}`
gives a system and a user message; a template without blocks is the user message
alone. The backend applies the tokenizer's chat template to the messages.

    msgs = render_judge_messages(record.prompt, record.response_a, record.response_b)
    msgs = render_judge_messages(prompt, a, b, style="answer-tag")
    msgs = render_judge_messages(prompt, a, b, template="recipes/prompts/my_judge.jinja")
"""

from __future__ import annotations

import functools
import os
from importlib import resources

import jinja2
import jinja2.sandbox

from genrm.judge.verdict import STYLES as JUDGE_STYLES  # the verdict format defines the styles
_STYLE_FILES = {"rationale": "judge_rationale.jinja", "answer-tag": "judge_answer_tag.jinja"}
# Built-in prompts selectable by name in `judge.template` (the verdict format stays `style`'s).
NAMED_TEMPLATES = {"compact": "judge_compact.jinja"}
METAJUDGE_FILE = "metajudge.jinja"
_TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")

# Sandboxed: a template from a shared recipe cannot reach Python internals (os.system via
# __globals__ and the like); ours use none of that, so it costs nothing.
_ENV = jinja2.sandbox.SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,  # a typo in a custom template fails loudly
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


class TemplateError(ValueError):
    """A judge/MetaJudge template could not be loaded or rendered."""


def builtin_template(name: str) -> str:
    """Source of a template shipped in `genrm/judge/templates/`."""
    try:
        return resources.files("genrm.judge").joinpath("templates", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"built-in template {name!r} not found in genrm/judge/templates/") from None


def load_template_source(template: str) -> str:
    """A built-in template's name (`NAMED_TEMPLATES`), a path to a template file, or an
    inline Jinja string, to template source."""
    if template in NAMED_TEMPLATES:
        return builtin_template(NAMED_TEMPLATES[template])
    looks_like_path = "\n" not in template and (
        template.endswith(_TEMPLATE_SUFFIXES) or os.sep in template and "{" not in template
    )
    if looks_like_path:
        if not os.path.isfile(template):
            raise TemplateError(f"template file {template!r} does not exist")
        with open(template, encoding="utf-8") as f:
            return f.read()
    return template


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error at line {e.lineno}: {e.message}") from None


def _render(source: str, variables: dict) -> list[dict]:
    tmpl = _compile(source)
    try:
        if "user" in tmpl.blocks:
            messages = []
            for role in ("system", "user"):
                if role in tmpl.blocks:
                    text = "".join(tmpl.blocks[role](tmpl.new_context(dict(variables)))).strip()
                    if text:
                        messages.append({"role": role, "content": text})
            return messages
        return [{"role": "user", "content": tmpl.render(**variables).strip()}]
    except jinja2.UndefinedError as e:
        raise TemplateError(f"template uses an unknown variable: {e.message}") from None
    except jinja2.sandbox.SecurityError as e:
        raise TemplateError(f"template refused by the sandbox: {e}") from None


def _as_messages(prompt: list[dict] | str) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, list) or not all(isinstance(m, dict) and "content" in m for m in prompt):
        raise TypeError("prompt must be a string or a list of {'role', 'content'} messages")
    return prompt


def render_transcript(prompt: list[dict] | str) -> str:
    """The conversation as plain text. A single user turn is shown as is; longer
    conversations get a role header per turn so the judge sees who said what."""
    messages = _as_messages(prompt)
    if len(messages) == 1 and messages[0].get("role", "user") == "user":
        return str(messages[0]["content"]).strip()
    turns = []
    for m in messages:
        role = str(m.get("role", "user")).capitalize()
        turns.append(f"{role}: {str(m['content']).strip()}")
    return "\n\n".join(turns)


def render_judge_messages(
    prompt: list[dict] | str,
    response_a: str,
    response_b: str,
    style: str = "rationale",
    template: str | None = None,
) -> list[dict]:
    """Chat messages (system + user) asking for a pairwise judgment of A vs B.

    `style` picks the built-in template and tells the parser what to expect;
    `template` (a file path or inline Jinja) replaces the built-in text.
    Template variables: transcript, messages, question (last user turn),
    response_a, response_b, style.
    """
    if style not in JUDGE_STYLES:
        raise ValueError(f"unknown judge style {style!r}; known: {', '.join(JUDGE_STYLES)}")
    messages = _as_messages(prompt)
    users = [m for m in messages if m.get("role", "user") == "user"]
    source = load_template_source(template) if template is not None else builtin_template(_STYLE_FILES[style])
    variables = {
        "transcript": render_transcript(messages),
        "messages": messages,
        "question": str(users[-1]["content"]).strip() if users else "",
        "response_a": str(response_a).strip(),
        "response_b": str(response_b).strip(),
        "style": style,
    }
    return _render(source, variables)


def render_metajudge_messages(
    human_units: list[str], model_units: list[str], template: str | None = None
) -> list[dict]:
    """The MetaJudge prompt: score each human unit R<i> against each model unit S<j>
    in {0, 0.25, 0.5, 0.75, 1}, one `R<i>@S<j>: <score>` line per pair."""
    if not human_units or not model_units:
        raise ValueError("the MetaJudge needs at least one human unit and one model unit")
    source = load_template_source(template) if template is not None else builtin_template(METAJUDGE_FILE)
    variables = {
        # One unit per line: a newline inside a unit would look like a new unit.
        "human_units": [" ".join(str(u).split()) for u in human_units],
        "model_units": [" ".join(str(u).split()) for u in model_units],
        "n_human": len(human_units),
        "n_model": len(model_units),
    }
    return _render(source, variables)
