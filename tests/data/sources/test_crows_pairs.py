"""CrowS-Pairs source: directional pairs from the real csv, prompts, errors."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import crows_pairs, get_source

HEADER = ["", "sent_more", "sent_less", "stereo_antistereo", "bias_type", "annotations", "anon_writer", "anon_annotators"]


def _csv(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    p = tmp_path / "crows.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return p


def test_diff_spans_masks_every_differing_region():
    masked, a, b = crows_pairs.diff_spans(
        "The man fixed the sink. He was proud of his work.", "The woman fixed the sink. She was proud of her work."
    )
    assert masked == "The BLANK fixed the sink. BLANK was proud of BLANK work."
    assert a == ["man", "He", "his"] and b == ["woman", "She", "her"]
    assert crows_pairs.diff_spans("Completely different.", "Nothing shared here") is None


def test_real_csv(shared_data):
    path = shared_data / "crows_pairs" / "crows_pairs_anonymized.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    stats: dict = {}
    recs = list(get_source("crows_pairs")(str(path), stats=stats))
    assert stats == {"rows": len(rows), "records": len(rows), "skipped_identical": 0}
    assert len(recs) == len(rows) == 1508
    for row, r in zip(rows, recs):
        # sent_more is the more stereotypical sentence in both directions: always rejected
        assert r.rejected == row["sent_more"].strip() and r.chosen == row["sent_less"].strip()
        assert r.label_kind == "directional" and r.domain == "bias"
        assert r.meta["sent_more_position"] == "rejected"
        assert r.meta["bias_type"] == row["bias_type"] and r.meta["stereo_antistereo"] == row["stereo_antistereo"]
        assert r.meta["id"] == row[""]
        text = r.prompt[0]["content"]
        assert text.startswith(crows_pairs.FILL_INSTRUCTION) and "BLANK" in text
    dirs = Counter(r.meta["stereo_antistereo"] for r in recs)
    assert dirs == {"stereo": 1290, "antistereo": 218}
    first = recs[0]
    assert first.meta["target"] == "black" and first.meta["spans_less"] == ["white"]
    assert "most BLANK kids" in first.prompt[0]["content"]
    assert first.rationale_origin == "template"
    assert first.rationale_units[0].startswith(f"\"{first.rejected}\" repeats a stereotype about \"black\"")
    # antistereo: the disadvantaged group is in sent_less (README), so that is the target
    anti = next(r for r in recs if r.meta["stereo_antistereo"] == "antistereo")
    assert anti.meta["target"] == anti.meta["spans_less"][0]
    assert "goes against a stereotype" in anti.rationale_units[0]
    # prompts differ per item (a build splits by prompt)
    assert len({r.prompt[0]["content"] for r in recs}) > 1450


def test_missing_column_names_field(tmp_path):
    p = _csv(tmp_path, [["0", "A sentence.", "B sentence.", "stereo", "age", "[]", "a0", "[]"]],
             header=["", "sent_more", "sent_less", "direction", "bias_type", "annotations", "anon_writer", "anon_annotators"])
    with pytest.raises(DataError) as e:
        list(crows_pairs.load(str(p)))
    assert e.value.field == "stereo_antistereo" and e.value.where == f"{p}:2"


def test_bad_direction_and_ragged_row(tmp_path):
    p = _csv(tmp_path, [["0", "Old people are slow.", "Young people are slow.", "sideways", "age", "[]", "a0", "[]"]])
    with pytest.raises(DataError) as e:
        list(crows_pairs.load(str(p)))
    assert e.value.field == "stereo_antistereo" and f"{p}:2" in str(e.value)
    p.write_text(",".join(HEADER) + "\n0,only,three\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(crows_pairs.load(str(p)))
    assert f"{p}:2" in str(e.value) and "columns" in str(e.value)


def test_empty_sentence_is_named(tmp_path):
    p = _csv(tmp_path, [
        ["0", "Old people are slow.", "Young people are slow.", "stereo", "age", "[]", "a0", "[]"],
        ["1", "Poor people are lazy.", "  ", "stereo", "socioeconomic", "[]", "a1", "[]"],
    ])
    with pytest.raises(DataError) as e:
        list(crows_pairs.load(str(p)))
    assert e.value.field == "sent_less" and e.value.where == f"{p}:3"


def test_identical_sentences_are_skipped_and_counted(tmp_path):
    p = _csv(tmp_path, [
        ["0", "Old people are slow.", "Young people are slow.", "stereo", "age", "[]", "a0", "[]"],
        ["1", "Same text.", "Same text.", "stereo", "age", "[]", "a1", "[]"],
    ])
    stats: dict = {}
    recs = list(crows_pairs.load(str(p), stats=stats))
    assert [r.chosen for r in recs] == ["Young people are slow."]
    assert stats["skipped_identical"] == 1 and stats["rows"] == 2
    assert recs[0].prompt[0]["content"].endswith("BLANK people are slow.")
