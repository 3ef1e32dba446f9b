"""The judge travels with the model: `genrm_judge.json` in a model directory is the prompt
every consumer renders by default (`judge_for_model`); an explicit setting wins, with one line."""

import asyncio
import json
import logging

import pytest

from genrm.judge.config import JUDGE_FILE, JudgeConfig, judge_for_model, write_judge_record
from genrm.judge.prompts import render_judge_messages


@pytest.fixture(scope="module")
def compact_model(tmp_path_factory, tokenizer):
    from genrm.testing.tiny import save_tiny_model

    d = str(tmp_path_factory.mktemp("compact_model"))
    save_tiny_model(d, tokenizer)
    write_judge_record(d, JudgeConfig(template="compact"))
    return d


def _compact(judge: JudgeConfig) -> bool:
    msgs = render_judge_messages("Q?", "a", "b", style=judge.style, template=judge.template)
    return msgs == render_judge_messages("Q?", "a", "b", template="compact") != render_judge_messages("Q?", "a", "b")


def test_record_holds_style_template_and_verdict_format(compact_model, tmp_path):
    rec = json.loads(open(f"{compact_model}/{JUDGE_FILE}").read())
    assert rec["style"] == "rationale" and rec["template"] == "compact" and "boxed" in rec["verdict_format"]
    custom = tmp_path / "mine.jinja"
    custom.write_text("Judge {{ response_a }} vs {{ response_b }}: answer [[A]] or [[B]].")
    write_judge_record(str(tmp_path), JudgeConfig(style="answer-tag", template=str(custom)))
    rec = json.loads((tmp_path / JUDGE_FILE).read_text())  # the text itself: the dir works without the recipe's files
    assert rec["template"] == custom.read_text() and rec["template_name"] == str(custom)
    custom.unlink()
    j = judge_for_model(str(tmp_path), JudgeConfig())
    assert j.style == "answer-tag" and "Judge a vs b" in render_judge_messages("Q", "a", "b", j.style, j.template)[0]["content"]


def test_evaluator_genrm_renders_the_recorded_template(compact_model):
    from genrm.evaluation.models import load_model
    from genrm.evaluation.schema import ModelSpec

    model = load_model(ModelSpec(ref=compact_model, backend={"device": "cpu", "dtype": "float32"}), JudgeConfig(), seed=0)
    assert _compact(model.judge)


def test_service_renders_the_recorded_template(compact_model):
    from genrm.rlhf.service import ServiceConfig, build_service

    async def build():
        svc = build_service(ServiceConfig(judge=JudgeConfig(backend={"kind": "hf", "model": compact_model})),
                            backend=object())
        judge = svc.judge
        await svc.aclose()
        return judge

    judge = asyncio.run(build())
    assert _compact(JudgeConfig(style=judge.style, template=judge.template))


def test_explicit_setting_wins_with_one_line(compact_model, caplog):
    with caplog.at_level(logging.WARNING, logger="genrm.judge.config"):
        j = judge_for_model(compact_model, JudgeConfig(style="answer-tag"))
        assert j.style == "answer-tag" and j.template is None
        same = judge_for_model(compact_model, JudgeConfig(template="compact", max_new_tokens=7))
        assert same.template == "compact" and same.max_new_tokens == 7
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "trained with style rationale and template compact" in lines[0], lines


def test_models_without_a_record_keep_the_setting(tmp_path):
    j = JudgeConfig(max_new_tokens=9)
    assert judge_for_model(str(tmp_path), j) is j and judge_for_model("embedded:smollm2-135m", j) is j
    assert judge_for_model("https://host/v1", j) is j
