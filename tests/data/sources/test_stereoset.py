"""StereoSet source: hub-schema fixtures (both configs, both layouts), pairs, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source, stereoset

HUB_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "target": datasets.Value("string"),
        "bias_type": datasets.Value("string"),
        "context": datasets.Value("string"),
        "sentences": datasets.Sequence(
            {
                "sentence": datasets.Value("string"),
                "id": datasets.Value("string"),
                "labels": datasets.Sequence(
                    {
                        "label": datasets.ClassLabel(names=["anti-stereotype", "stereotype", "unrelated", "related"]),
                        "human_id": datasets.Value("string"),
                    }
                ),
                "gold_label": datasets.ClassLabel(names=["anti-stereotype", "stereotype", "unrelated"]),
            }
        ),
    }
)


def _rows(fixtures_dir: Path, config: str) -> list[dict]:
    text = (fixtures_dir / f"stereoset_{config}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("config", ["intersentence", "intrasentence"])
def test_fixture_rows_fit_the_hub_features(fixtures_dir, config):
    ds = datasets.Dataset.from_list(_rows(fixtures_dir, config), features=HUB_FEATURES)
    assert len(ds) == 3
    s = ds[0]["sentences"]
    assert set(s) == {"sentence", "id", "labels", "gold_label"} and sorted(s["gold_label"]) == [0, 1, 2]


@pytest.mark.parametrize("config", ["intersentence", "intrasentence"])
def test_pairs_from_hub_layout(fixtures_dir, config):
    rows = _rows(fixtures_dir, config)
    stats: dict = {}
    recs = list(get_source("stereoset")(str(fixtures_dir / f"stereoset_{config}.jsonl"), stats=stats))
    assert stats == {"rows": 3, "records": 9}
    kinds = Counter((r.meta["pair_type"], r.label_kind) for r in recs)
    assert kinds == {
        ("stereotype_vs_unrelated", "gold"): 3,
        ("anti_stereotype_vs_unrelated", "gold"): 3,
        ("anti_stereotype_vs_stereotype", "directional"): 3,
    }
    for row, item in zip(rows, [recs[i : i + 3] for i in range(0, 9, 3)]):
        by_gold = dict(zip(row["sentences"]["gold_label"], row["sentences"]["sentence"]))
        anti, stereo, unrelated = by_gold[0], by_gold[1], by_gold[2]
        pairs = {r.meta["pair_type"]: (r.chosen, r.rejected) for r in item}
        assert pairs["stereotype_vs_unrelated"] == (stereo, unrelated)
        assert pairs["anti_stereotype_vs_unrelated"] == (anti, unrelated)
        assert pairs["anti_stereotype_vs_stereotype"] == (anti, stereo)
        for r in item:
            assert r.meta["config"] == config and r.meta["target"] == row["target"]
            assert r.meta["bias_type"] == row["bias_type"] and r.meta["id"] == row["id"]
            assert r.domain == "bias" and r.rationale_origin == "template" and len(r.rationale_units) == 2
            assert row["context"] in r.prompt[0]["content"]
        directional = next(r for r in item if r.label_kind == "directional")
        assert directional.rationale_units[0] == f"\"{stereo}\" relies on a stereotype about \"{row['target']}\" ({row['bias_type']})."
    if config == "intrasentence":
        assert all("BLANK" in r.prompt[0]["content"] and "Fill in the BLANK" in r.prompt[0]["content"] for r in recs)


def test_save_to_disk_dataset_with_hub_features(tmp_path, fixtures_dir):
    # the same rows as `datasets` hands them out after load_dataset(...)
    ds = datasets.Dataset.from_list(_rows(fixtures_dir, "intrasentence"), features=HUB_FEATURES)
    ds.save_to_disk(str(tmp_path / "ss"))
    recs = list(stereoset.load(str(tmp_path / "ss"), config="intrasentence"))
    assert len(recs) == 9 and {r.meta["config"] for r in recs} == {"intrasentence"}
    assert recs[0].chosen == "The engineer was very awkward at the meeting."


def test_list_layout_and_original_wrapper(tmp_path, fixtures_dir):
    rows = _rows(fixtures_dir, "intersentence")
    listed = []
    for row in rows:
        s = row["sentences"]
        names = ["anti-stereotype", "stereotype", "unrelated"]
        items = [
            {"sentence": t, "id": i, "labels": [], "gold_label": names[g]}
            for t, i, g in zip(s["sentence"], s["id"], s["gold_label"])
        ]
        listed.append(dict(row, sentences=items))
    p = tmp_path / "list.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in listed), encoding="utf-8")
    hub = list(stereoset.load(str(fixtures_dir / "stereoset_intersentence.jsonl")))
    as_list = list(stereoset.load(str(p)))
    assert [r.id for r in as_list] == [r.id for r in hub]
    # the original dev.json: {"version", "data": {"intersentence": [...], "intrasentence": [...]}}
    q = tmp_path / "dev.json"
    q.write_text(json.dumps({"version": "1.0", "data": {"intersentence": listed, "intrasentence": []}}), encoding="utf-8")
    wrapped = list(stereoset.load(str(q)))
    assert [r.id for r in wrapped] == [r.id for r in hub]
    assert {r.meta["config"] for r in wrapped} == {"intersentence"}


def _bad(tmp_path: Path, fixtures_dir: Path, mutate) -> tuple[Path, DataError]:
    rows = _rows(fixtures_dir, "intersentence")
    mutate(rows[1])
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(stereoset.load(str(p)))
    return p, e.value


def test_errors_name_field_and_line(tmp_path, fixtures_dir):
    p, e = _bad(tmp_path, fixtures_dir, lambda r: r.pop("context"))
    assert e.field == "context" and e.where == f"{p}:2"
    p, e = _bad(tmp_path, fixtures_dir, lambda r: r["sentences"].update(gold_label=[1, 1, 2]))
    assert e.field == "sentences.gold_label" and e.where == f"{p}:2" and "two 'stereotype'" in str(e)
    p, e = _bad(tmp_path, fixtures_dir, lambda r: r["sentences"].update(gold_label=[1, 7, 0]))
    assert e.field == "sentences.gold_label"
    p, e = _bad(tmp_path, fixtures_dir, lambda r: r["sentences"].update(sentence=["only one"]))
    assert e.field == "sentences"
    p, e = _bad(tmp_path, fixtures_dir, lambda r: r.update(sentences="text"))
    assert e.field == "sentences"
    with pytest.raises(DataError) as err:
        list(stereoset.load(str(p), config="intersentences"))
    assert err.value.field == "config"


def test_malformed_json_line(tmp_path, fixtures_dir):
    text = (fixtures_dir / "stereoset_intrasentence.jsonl").read_text(encoding="utf-8")
    p = tmp_path / "broken.jsonl"
    p.write_text(text + '{"id": "x", "target": \n', encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(stereoset.load(str(p)))
    assert f"{p}:4" in str(e.value)
