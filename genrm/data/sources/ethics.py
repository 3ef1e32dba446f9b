"""ETHICS (hub `hendrycks/ethics`; Hendrycks et al. 2021): five configs, five conversions.

ETHICS is a classification dataset; each config is turned into preference
pairs that share one prompt, with gold labels. The conversions:

- commonsense (`label, input`; 1 = the narrator's action is clearly wrong)
  -> domain "morality". Prompt = the scenario and the question "is this
  acceptable or wrong?"; chosen = the correct judgement, rejected = the
  opposite one (two fixed answer sentences). One pair per row.
- deontology (`label, scenario, excuse`; 1 = reasonable) -> domain "ethics".
  Rows sharing a `scenario` (a request or a role) form a group; prompt = the
  scenario, asking for a reasonable exemption/duty; chosen = a reasonable
  excuse, rejected = an unreasonable excuse of the same group.
- virtue (`label, scenario` = "<scenario> [SEP] <trait>"; 1 = the trait fits)
  -> "ethics". Groups share the text before [SEP]; prompt = the scenario,
  asking which trait it shows; chosen = a fitting trait, rejected = a
  non-fitting trait of the same group.
- justice (`label, scenario`; 1 = reasonable) -> "ethics". The rows carry no
  group key; ETHICS publishes them in contrastive blocks of 4 consecutive rows
  (its exact-match metric groups them so), so groups are consecutive blocks of
  `justice_group_size` rows. Chosen = a reasonable claim, rejected = an
  unreasonable claim of the same block; the prompt asks for a just claim and
  quotes the words the two claims share at the start (if 3 or more).
- utilitarianism (two columns, the first is more pleasant: `baseline,
  less_pleasant` on the hub, header-less CSV in the original release) ->
  "ethics". Each row is a pair: chosen = first, rejected = second; prompt as
  for justice (a more pleasant outcome, with the shared opening words).

Within a group every (positive, negative) combination is a pair, up to
`max_pairs_per_group`. Groups with only one label give no pair; duplicate
items with conflicting labels are dropped; both are counted in `stats`.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
from typing import Any, Iterator

from genrm.data.rows import DataError, iter_rows, load_rows, read_text, require_int, require_text
from genrm.data.record import PreferenceRecord, user_prompt

SOURCE = "ethics"
HUB_ID = "hendrycks/ethics"
CONFIGS = ("commonsense", "deontology", "justice", "virtue", "utilitarianism")
log = logging.getLogger(__name__)

WRONG = "The narrator's action is clearly morally wrong."
ACCEPTABLE = "The narrator's action is morally acceptable."


def commonsense_prompt(text: str) -> str:
    return f"{text.strip()}\n\nIs what the narrator did morally acceptable, or clearly wrong?"


def deontology_prompt(scenario: str) -> str:
    return (f'Scenario: "{scenario.strip()}"\n\nReply with a reasonable response: a valid exemption from the '
            "request, or a responsibility that comes with the role.")


def virtue_prompt(scenario: str) -> str:
    return f'Scenario: "{scenario.strip()}"\n\nWhich character trait does the person in this scenario show?'


def _shared_opening(a: str, b: str, min_words: int = 3) -> str:
    """The words two texts share at their start (never the whole of either), or ''."""
    wa, wb = a.split(), b.split()
    n = 0
    while n < min(len(wa), len(wb)) - 1 and wa[n] == wb[n]:
        n += 1
    return " ".join(wa[:n]) if n >= min_words else ""


def justice_prompt(a: str, b: str) -> str:
    p = "Make a claim about what someone deserves or how people should be treated that is reasonable and just."
    opening = _shared_opening(a, b)
    return f'{p}\n\nStart with: "{opening} ..."' if opening else p


def utilitarianism_prompt(a: str, b: str) -> str:
    p = "Describe an experience that is as pleasant as possible for the person living it."
    opening = _shared_opening(a, b)
    return f'{p}\n\nStart with: "{opening} ..."' if opening else p


def _config_from(path: str, row: dict | None) -> str | None:
    name = os.path.basename(path).lower()
    for key, cfg in (("cm_", "commonsense"), ("commonsense", "commonsense"), ("deontology", "deontology"),
                     ("justice", "justice"), ("virtue", "virtue"), ("util", "utilitarianism")):
        if key in name:
            return cfg
    if row is None:
        return None
    if "input" in row:
        return "commonsense"
    if "excuse" in row:
        return "deontology"
    if "baseline" in row:
        return "utilitarianism"
    return None


def _iter_util_csv(path: str) -> Iterator[tuple[str, dict]]:
    """The original util_*.csv has no header: two columns, the first more pleasant."""
    with io.StringIO(read_text(path), newline="") as f:  # bad bytes name the line and offset
        reader = csv.reader(f)
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise DataError(f"malformed CSV ({e})", where=f"{path}:{line}") from None
            where = f"{path}:{line}"
            line = reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if [c.strip() for c in row] == ["baseline", "less_pleasant"]:
                continue  # a header after all
            if len(row) != 2:
                raise DataError(f"has {len(row)} columns, utilitarianism rows have 2", where=where)
            yield where, {"baseline": row[0], "less_pleasant": row[1]}


def _file_rows(path: str, config: str | None) -> tuple[str, Iterator[tuple[str, dict]]]:
    cfg = config or _config_from(path, None)
    if cfg == "utilitarianism" and path.lower().endswith(".csv"):
        return cfg, _iter_util_csv(path)
    rows = iter_rows(path)
    if cfg:
        return cfg, rows
    first = next(rows, None)
    cfg = _config_from(path, first[1] if first else None)
    if cfg is None:
        raise DataError(f"cannot tell the ETHICS config from the file name or columns; pass config= one of {CONFIGS}",
                        where=path)

    def chained() -> Iterator[tuple[str, dict]]:
        if first:
            yield first
        yield from rows

    return cfg, chained()


def _rows_for(path: str, config: str | None, split: str) -> tuple[str, Iterator[tuple[str, dict]]]:
    """A file, a directory of files of one config, or (config needed) a save_to_disk dir / hub id."""
    if os.path.isfile(path):
        return _file_rows(path, config)
    is_saved = any(os.path.exists(os.path.join(path, n)) for n in ("dataset_info.json", "dataset_dict.json"))
    if os.path.isdir(path) and not is_saved:
        files = sorted(n for n in os.listdir(path) if n.lower().endswith((".jsonl", ".json", ".csv", ".parquet")))
        if not files:
            raise DataError(f"no .jsonl/.json/.csv/.parquet files in directory {path}")
        parts = [_file_rows(os.path.join(path, n), config) for n in files]
        found = sorted({c for c, _ in parts})
        if len(found) > 1:
            raise DataError(f"directory mixes ETHICS configs {found}; read one config at a time", where=path)
        return found[0], itertools.chain.from_iterable(r for _, r in parts)
    if config is None:
        raise DataError(f"pass config= one of {CONFIGS} to read {path}", field="config")
    return config, load_rows(path, split=split, config=config)


def _pair_texts(row: dict, where: str) -> tuple[str, str]:
    """(more pleasant, less pleasant) from a utilitarianism row in either published layout."""
    if "baseline" in row or "less_pleasant" in row:
        return require_text(row, "baseline", where), require_text(row, "less_pleasant", where)
    vals = list(row.values())
    if len(vals) != 2 or not all(isinstance(v, str) and v.strip() for v in vals):
        raise DataError("should have 'baseline' and 'less_pleasant' (or exactly two text columns)",
                        field="baseline", where=where)
    return vals[0], vals[1]


class _Group:
    """Items of one ETHICS group: text -> label (conflicting duplicates dropped)."""

    def __init__(self, key: Any):
        self.key = key
        self.items: dict[str, int] = {}
        self.conflicts: set[str] = set()
        self.where = ""

    def add(self, text: str, label: int, where: str) -> None:
        self.where = self.where or where
        t = text.strip()
        if t in self.items and self.items[t] != label:
            self.conflicts.add(t)
        self.items.setdefault(t, label)

    def split(self) -> tuple[list[str], list[str]]:
        pos = [t for t, lab in self.items.items() if lab == 1 and t not in self.conflicts]
        neg = [t for t, lab in self.items.items() if lab == 0 and t not in self.conflicts]
        return pos, neg


def _groups(config: str, rows: Iterator[tuple[str, dict]], justice_group_size: int, counts: dict) -> list[_Group]:
    groups: dict[Any, _Group] = {}
    for n, (where, row) in enumerate(rows):
        counts["rows"] += 1
        label = require_int(row, "label", where, allowed=(0, 1))
        scenario = require_text(row, "scenario", where)
        if config == "deontology":
            key, text = scenario.strip(), require_text(row, "excuse", where)
        elif config == "virtue":
            parts = scenario.split("[SEP]")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise DataError("should be '<scenario> [SEP] <trait>'", field="scenario", where=where)
            key, text = parts[0].strip(), parts[1]
        else:  # justice: consecutive blocks
            key, text = n // justice_group_size, scenario
        groups.setdefault(key, _Group(key)).add(text, label, where)
    return list(groups.values())


def _grouped_records(config: str, groups: list[_Group], max_pairs: int | None, counts: dict):
    for g in groups:
        pos, neg = g.split()
        counts["skipped_conflicting_label"] += len(g.conflicts)
        if not pos or not neg:
            counts["groups_without_pair"] += 1
            continue
        combos = sorted(((i, j) for i in range(len(pos)) for j in range(len(neg))), key=lambda p: (p[0] + p[1], p[0]))
        for i, j in combos[:max_pairs] if max_pairs else combos:
            chosen, rejected = pos[i], neg[j]
            if config == "deontology":
                prompt = deontology_prompt(g.key)
            elif config == "virtue":
                prompt = virtue_prompt(g.key)
            else:
                prompt = justice_prompt(chosen, rejected)
            meta = {"config": config, "group": g.key, "chosen_label": 1, "rejected_label": 0,
                    "group_size": len(g.items)}
            counts["pairs"] += 1
            yield PreferenceRecord(source=SOURCE, domain="ethics", prompt=user_prompt(prompt), chosen=chosen,
                                   rejected=rejected, label_kind="gold", meta=meta)


def load(
    path: str = HUB_ID,
    *,
    config: str | None = None,
    split: str = "train",
    max_pairs_per_group: int | None = None,
    justice_group_size: int = 4,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield ETHICS pairs for one config (given, or read from a local file's name/columns)."""
    if config is not None and config not in CONFIGS:
        raise DataError(f"should be one of {CONFIGS}, got {config!r}", field="config")
    if not isinstance(justice_group_size, int) or justice_group_size < 2:
        raise DataError(f"should be an integer >= 2, got {justice_group_size!r}", field="justice_group_size")
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_identical", "skipped_conflicting_label", "groups_without_pair"):
        counts.setdefault(key, 0)
    config, rows = _rows_for(path, config, split)

    if config == "commonsense":
        for where, row in rows:
            counts["rows"] += 1
            wrong = require_int(row, "label", where, allowed=(0, 1)) == 1
            text = require_text(row, "input", where)
            meta = {"config": config, "label": int(wrong), "judgement": "wrong" if wrong else "acceptable"}
            if row.get("is_short") is not None:
                meta["is_short"] = str(row["is_short"]).strip().lower() in ("true", "1")
            counts["pairs"] += 1
            yield PreferenceRecord(
                source=SOURCE, domain="morality", prompt=user_prompt(commonsense_prompt(text)),
                chosen=WRONG if wrong else ACCEPTABLE, rejected=ACCEPTABLE if wrong else WRONG,
                label_kind="gold", meta=meta,
            )
    elif config == "utilitarianism":
        for where, row in rows:
            counts["rows"] += 1
            better, worse = _pair_texts(row, where)
            if better.strip() == worse.strip():
                counts["skipped_identical"] += 1
                continue
            counts["pairs"] += 1
            yield PreferenceRecord(
                source=SOURCE, domain="ethics", prompt=user_prompt(utilitarianism_prompt(better, worse)),
                chosen=better.strip(), rejected=worse.strip(), label_kind="gold",
                meta={"config": config, "chosen_column": 0, "rejected_column": 1},
            )
    else:
        groups = _groups(config, rows, justice_group_size, counts)
        yield from _grouped_records(config, groups, max_pairs_per_group, counts)
    log.info("%s %s (%s): %s", SOURCE, path, config, counts)
