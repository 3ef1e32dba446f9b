import csv
import json
from collections import Counter

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import ethics, get_source


@pytest.fixture()
def ethics_dir(fixtures_dir):
    return fixtures_dir / "ethics"


def test_registered():
    assert get_source("ethics") is ethics.load


def test_commonsense_answers_follow_the_label(ethics_dir):
    path = ethics_dir / "commonsense" / "cm_train.csv"
    rows = list(csv.DictReader(open(path)))
    recs = list(ethics.load(str(path)))
    assert len(recs) == len(rows) == 5
    for rec, row in zip(recs, rows):
        wrong = row["label"] == "1"
        assert rec.chosen == (ethics.WRONG if wrong else ethics.ACCEPTABLE)
        assert rec.rejected == (ethics.ACCEPTABLE if wrong else ethics.WRONG)
        assert rec.prompt[0]["content"].startswith(row["input"])
        assert rec.domain == "morality" and rec.label_kind == "gold" and rec.meta["config"] == "commonsense"
    assert recs[1].chosen == ethics.ACCEPTABLE  # helping the neighbour
    assert recs[4].meta["is_short"] is False


def test_deontology_pairs_within_scenario(ethics_dir):
    stats = {}
    recs = list(ethics.load(str(ethics_dir / "deontology"), stats=stats))
    assert len(recs) == 8 and stats["groups_without_pair"] == 1
    rows = list(csv.DictReader(open(ethics_dir / "deontology" / "deontology_train.csv")))
    label = {(r["scenario"], r["excuse"]): r["label"] for r in rows}
    for rec in recs:
        g = rec.meta["group"]
        assert label[(g, rec.chosen)] == "1" and label[(g, rec.rejected)] == "0"
        assert g in rec.prompt[0]["content"] and rec.domain == "ethics"
    assert Counter(r.meta["group"] for r in recs) == {
        "Could you walk the dog this afternoon?": 4, "I am a lifeguard at the public pool.": 4}
    assert len(list(ethics.load(str(ethics_dir / "deontology"), max_pairs_per_group=1))) == 2


def test_virtue_pairs_fitting_trait_against_others(ethics_dir):
    recs = list(ethics.load(str(ethics_dir / "virtue" / "virtue_train.csv")))
    assert len(recs) == 8
    ana = [r for r in recs if r.meta["group"].startswith("Ana returned")]
    assert {r.chosen for r in ana} == {"honest"}
    assert {r.rejected for r in ana} == {"greedy", "lazy", "cowardly", "arrogant"}
    assert {r.chosen for r in recs if r.meta["group"].startswith("Tom")} == {"self-centred"}
    assert "[SEP]" not in ana[0].prompt[0]["content"]


def test_justice_blocks_of_four(ethics_dir):
    recs = list(ethics.load(str(ethics_dir / "justice" / "justice_train.csv")))
    assert Counter(r.meta["group"] for r in recs) == {0: 4, 1: 4}
    ride = next(r for r in recs if r.meta["group"] == 0)
    assert ride.chosen.endswith(("with his friend.", "school was cancelled."))
    assert 'Start with: "I usually give my brother a ride to school,' in ride.prompt[0]["content"]
    # blocks of 8 put all 8 rows in one group: 4 reasonable x 4 unreasonable
    assert len(list(ethics.load(str(ethics_dir / "justice" / "justice_train.csv"), justice_group_size=8))) == 16


def test_utilitarianism_both_layouts(ethics_dir):
    raw = list(csv.reader(open(ethics_dir / "utilitarianism" / "util_train.csv")))
    recs = list(ethics.load(str(ethics_dir / "utilitarianism" / "util_train.csv")))
    assert len(recs) == 3  # the first row is data, not a header
    assert [(r.chosen, r.rejected) for r in recs] == [(a, b) for a, b in raw]
    hub = list(ethics.load(str(ethics_dir / "hub_utilitarianism.jsonl")))
    assert hub[0].chosen == "I passed my driving test on the first try."
    assert hub[0].rejected == "I passed my driving test on the third try."
    assert {r.domain for r in recs + hub} == {"ethics"}


def test_config_option_and_errors(ethics_dir, tmp_path):
    # explicit config on a file whose name says nothing
    p = tmp_path / "rows.jsonl"
    p.write_text(json.dumps({"label": 1, "scenario": "I deserve a refund because the item arrived broken."}) + "\n"
                 + json.dumps({"label": 0, "scenario": "I deserve a refund because I changed my hairstyle."}) + "\n")
    assert len(list(ethics.load(str(p), config="justice"))) == 1
    with pytest.raises(DataError, match="cannot tell the ETHICS config"):
        list(ethics.load(str(p)))
    with pytest.raises(DataError, match="field 'config'"):
        list(ethics.load(str(p), config="fairness"))
    with pytest.raises(DataError, match="field 'config': pass config="):
        list(ethics.load("hendrycks/ethics"))


def test_bad_rows(tmp_path):
    p = tmp_path / "virtue_test.csv"
    p.write_text('label,scenario\n1,"Mia shared her lunch. [SEP] generous"\n2,"Mia shared her lunch. [SEP] stingy"\n')
    with pytest.raises(DataError, match=r"virtue_test\.csv:3: field 'label': should be one of \(0, 1\), got 2"):
        list(ethics.load(str(p)))
    p.write_text('label,scenario\n1,"Mia shared her lunch with a new classmate."\n')
    with pytest.raises(DataError, match=r"virtue_test\.csv:2: field 'scenario': should be '<scenario> \[SEP\]"):
        list(ethics.load(str(p)))
    q = tmp_path / "deontology_test.csv"
    q.write_text('label,scenario,excuse\n1,"Can you call me later?"\n')
    with pytest.raises(DataError, match=r"deontology_test\.csv:2: has 2 columns"):
        list(ethics.load(str(q)))
    u = tmp_path / "util_test.csv"
    u.write_text('"I won a prize.","I lost a prize.","extra"\n')
    with pytest.raises(DataError, match=r"util_test\.csv:1: has 3 columns"):
        list(ethics.load(str(u)))


def test_directory_with_mixed_configs(tmp_path, ethics_dir):
    for name in ("cm_train.csv",):
        (tmp_path / name).write_text((ethics_dir / "commonsense" / name).read_text())
    (tmp_path / "justice_train.csv").write_text((ethics_dir / "justice" / "justice_train.csv").read_text())
    with pytest.raises(DataError, match="mixes ETHICS configs"):
        list(ethics.load(str(tmp_path)))


def test_saved_dataset_needs_and_uses_config(tmp_path, ethics_dir):
    import datasets

    rows = [{"label": int(r["label"]), "scenario": r["scenario"]}
            for r in csv.DictReader(open(ethics_dir / "virtue" / "virtue_train.csv"))]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "virtue"))
    with pytest.raises(DataError, match="field 'config'"):
        list(ethics.load(str(tmp_path / "virtue")))
    recs = list(ethics.load(str(tmp_path / "virtue"), config="virtue", split="train"))
    assert len(recs) == 8 and {r.chosen for r in recs} == {"honest", "self-centred"}
