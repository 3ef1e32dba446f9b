"""The preference record: one schema for every source, validated on construction.

A record is a prompt (chat messages), a chosen and a rejected response, how we
know which is better (`label_kind`), and why (`rationale`, `rationale_units`).
`meta` carries what the evaluators need later (BBQ roles, variant indices, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Iterator

from genrm.data.errors import RecordError
from genrm.data.rows import iter_jsonl

DOMAINS = ("general", "bias", "safety", "morality", "ethics")
LABEL_KINDS = ("gold", "directional")
RATIONALE_ORIGINS = ("human", "llm", "template", "none")
POSITIONS = ("A", "B")
ROLES = ("user", "system", "assistant")


# One encoder reused for hashing: `json.dumps` with these options builds a new
# encoder per call, a large share of record construction time. Same output.
_HASH_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_JSON_LEAF = (str, int, float, type(None))  # bool is an int


def content_id(prompt: list[dict], chosen: str, rejected: str) -> str:
    """Stable content hash of a comparison (independent of source and A/B placement)."""
    blob = _HASH_ENCODER.encode([prompt, chosen, rejected])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def prompt_key(prompt: list[dict]) -> str:
    """Hash of the prompt alone: used to keep a prompt inside one split."""
    blob = _HASH_ENCODER.encode(prompt)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def _plain_json(v: Any, depth: int = 0) -> bool:
    """True when `v` is made only of dict/list/tuple/str/int/float/None (so `json.dumps`
    certainly succeeds). False means "not sure": the caller then asks `json.dumps`."""
    if isinstance(v, _JSON_LEAF):
        return True
    if depth > 32:  # deep or circular: let json.dumps decide
        return False
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, _JSON_LEAF) or not (isinstance(x, _JSON_LEAF) or _plain_json(x, depth + 1)):
                return False
        return True
    if isinstance(v, (list, tuple)):
        for x in v:
            if not (isinstance(x, _JSON_LEAF) or _plain_json(x, depth + 1)):
                return False
        return True
    return False


def user_prompt(text: str, system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": text})
    return msgs


@dataclass
class PreferenceRecord:
    source: str
    domain: str
    prompt: list[dict]
    chosen: str
    rejected: str
    label_kind: str
    rationale: str = ""
    rationale_units: list[str] = field(default_factory=list)
    rationale_origin: str = "none"
    meta: dict[str, Any] = field(default_factory=dict)
    # Where the chosen response is shown to a pairwise judge. Set by the seeded
    # position balancing of the build; "A" until then.
    chosen_position: str = "A"
    id: str = ""

    def __post_init__(self) -> None:
        self._validate()
        expected = content_id(self.prompt, self.chosen, self.rejected)
        if not self.id:
            self.id = expected
        elif self.id != expected:
            raise RecordError(f"id {self.id!r} does not match the content hash {expected!r}", field="id")

    def _validate(self) -> None:
        for name in ("source", "chosen", "rejected"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v.strip():
                raise RecordError("must be a non-empty string", field=name)
        if self.domain not in DOMAINS:
            raise RecordError(f"{self.domain!r} is not one of {DOMAINS}", field="domain")
        if self.label_kind not in LABEL_KINDS:
            raise RecordError(f"{self.label_kind!r} is not one of {LABEL_KINDS}", field="label_kind")
        if self.rationale_origin not in RATIONALE_ORIGINS:
            raise RecordError(f"{self.rationale_origin!r} is not one of {RATIONALE_ORIGINS}", field="rationale_origin")
        if self.chosen_position not in POSITIONS:
            raise RecordError(f"{self.chosen_position!r} is not one of {POSITIONS}", field="chosen_position")
        if not isinstance(self.prompt, list) or not self.prompt:
            raise RecordError("must be a non-empty list of chat messages", field="prompt")
        for i, m in enumerate(self.prompt):
            if not isinstance(m, dict) or set(m) != {"role", "content"}:
                raise RecordError(f"message {i} must be {{'role', 'content'}}", field="prompt")
            if m["role"] not in ROLES or not isinstance(m["content"], str):
                raise RecordError(f"message {i} has role {m['role']!r} / non-string content", field="prompt")
        if not any(m["role"] == "user" and m["content"].strip() for m in self.prompt):
            raise RecordError("needs at least one non-empty user message", field="prompt")
        if self.chosen == self.rejected:
            raise RecordError("chosen and rejected are identical", field="rejected")
        if not isinstance(self.rationale, str):
            raise RecordError("must be a string", field="rationale")
        if not isinstance(self.rationale_units, list) or not all(
            isinstance(u, str) and u.strip() for u in self.rationale_units
        ):
            raise RecordError("must be a list of non-empty strings", field="rationale_units")
        if self.rationale_units and self.rationale_origin == "none":
            raise RecordError("units are present, so rationale_origin cannot be 'none'", field="rationale_origin")
        if not isinstance(self.meta, dict):
            raise RecordError("must be a dict", field="meta")
        if not _plain_json(self.meta):  # fast check first; json.dumps gives the exact error
            try:
                json.dumps(self.meta)
            except TypeError as e:
                raise RecordError(f"must be JSON-serialisable ({e})", field="meta") from None

    # -- views used by judges -------------------------------------------------
    @property
    def response_a(self) -> str:
        return self.chosen if self.chosen_position == "A" else self.rejected

    @property
    def response_b(self) -> str:
        return self.rejected if self.chosen_position == "A" else self.chosen

    @property
    def label(self) -> str:
        """The pairwise label in judge terms: 'A>B' or 'B>A'."""
        return "A>B" if self.chosen_position == "A" else "B>A"

    # -- serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        """Flat row for `datasets`: meta as a JSON string (its keys differ per source),
        plus the judge-facing columns `response_a`, `response_b`, `label`."""
        d = self.to_dict()
        d["meta"] = json.dumps(self.meta, ensure_ascii=False, sort_keys=True)
        d["response_a"], d["response_b"], d["label"] = self.response_a, self.response_b, self.label
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str | None = None) -> "PreferenceRecord":
        """Build from a dict (JSONL line or dataset row). Derived columns are ignored."""
        if not isinstance(d, dict):
            raise RecordError(f"expected an object, got {type(d).__name__}", where=where)
        names = {f.name for f in fields(cls)}
        required = ("source", "domain", "prompt", "chosen", "rejected", "label_kind")
        for r in required:
            if r not in d:
                raise RecordError("is missing", field=r, where=where)
        kw = {k: v for k, v in d.items() if k in names}
        if isinstance(kw.get("meta"), str):
            try:
                kw["meta"] = json.loads(kw["meta"])
            except json.JSONDecodeError as e:
                raise RecordError(f"is not valid JSON ({e})", field="meta", where=where) from None
        try:
            return cls(**kw)
        except RecordError as e:
            if where and not e.where:
                raise RecordError(e.message, field=e.field, where=where) from None
            raise


def write_jsonl(records: Iterable[PreferenceRecord], path: str) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str) -> Iterator[PreferenceRecord]:
    for where, obj in iter_jsonl(path):
        yield PreferenceRecord.from_dict(obj, where=where)


def to_dataset(records: Iterable[PreferenceRecord]):
    """`datasets.Dataset` with one row per record (see `PreferenceRecord.to_row`)."""
    import datasets

    rows = [r.to_row() for r in records]
    features = datasets.Features(
        {
            "source": datasets.Value("string"),
            "domain": datasets.Value("string"),
            "prompt": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
            "chosen": datasets.Value("string"),
            "rejected": datasets.Value("string"),
            "label_kind": datasets.Value("string"),
            "rationale": datasets.Value("string"),
            "rationale_units": datasets.List(datasets.Value("string")),
            "rationale_origin": datasets.Value("string"),
            "meta": datasets.Value("string"),
            "chosen_position": datasets.Value("string"),
            "id": datasets.Value("string"),
            "response_a": datasets.Value("string"),
            "response_b": datasets.Value("string"),
            "label": datasets.Value("string"),
        }
    )
    if not rows:
        return datasets.Dataset.from_dict({k: [] for k in features}, features=features)
    return datasets.Dataset.from_list(rows, features=features)


def from_dataset(ds) -> list[PreferenceRecord]:
    return [PreferenceRecord.from_dict(row, where=f"dataset row {i}") for i, row in enumerate(ds)]


# -- row fields as readers of built datasets see them (the rewards, the evaluator, the TRL adapter)


def completion_text(completion: Any) -> str | None:
    """The text of one completion: a string, a message dict, or a list of messages
    (assistant contents joined; content may be a list of {"type": "text"} parts)."""
    if completion is None or isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    parts = []
    for m in completion:
        if isinstance(m, str):
            parts.append(m)
            continue
        if m.get("role", "assistant") != "assistant":
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content:
            parts.append(str(content))
    return "\n".join(parts)


def human_units(value: Any) -> list[str]:
    """The `rationale_units` cell of a row as a clean list (None/empty -> [])."""
    if value is None:
        return []
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                value = json.loads(s)
            except json.JSONDecodeError:
                raise ValueError(f"rationale_units is a string that is not a JSON list: {s[:80]!r}") from None
        else:
            value = [s]
    return [str(u).strip() for u in value if u is not None and str(u).strip()]
