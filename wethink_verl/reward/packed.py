"""Routing metadata inside a single ground-truth string.

EasyR1 hands its reward function only ``response``, ``response_length`` and ``ground_truth`` (the
``answer`` column). To route per sample (and give the judge the question), ``prepare --format
easyr1`` writes the answer column as a JSON object marked ``"wethink": 1``::

    {"wethink": 1, "answer": "B", "category": "multiple choice", "reward": "rule-based",
     "problem": "…", "image_path": "…", "verifier": null, "verifier_kwargs": {}}

A plain answer string (any other dataset) still works: it unpacks to ``{"answer": s}``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

MARKER = "wethink"
PACKED_FIELDS = ("answer", "category", "reward", "problem", "image_path", "verifier", "verifier_kwargs")


def pack_ground_truth(answer: str, **fields: Any) -> str:
    unknown = set(fields) - set(PACKED_FIELDS)
    if unknown:
        raise ValueError(f"cannot pack unknown fields {sorted(unknown)}; known: {PACKED_FIELDS}")
    record = {MARKER: 1, "answer": answer}
    record.update({k: v for k, v in fields.items() if v is not None and v != {}})
    return json.dumps(record, ensure_ascii=False)


def unpack_ground_truth(value: Any) -> dict:
    """{"answer": …, and any routing fields}; never raises. A mapping (the packed object as a
    JSONL reader hands it over: EasyR1 loads an ``answer`` object as a dict) unpacks like its JSON
    text; a mapping without an ``answer`` key is itself the answer."""
    if isinstance(value, Mapping):
        record = {str(k): v for k, v in value.items()}
        record.pop(MARKER, None)
        return record if "answer" in record else {"answer": dict(value)}
    text = "" if value is None else str(value)
    if text.startswith("{") and f'"{MARKER}"' in text:
        try:
            record = json.loads(text)
        except ValueError:
            return {"answer": text}
        if isinstance(record, dict) and record.get(MARKER) == 1:
            record.pop(MARKER)
            return record
    return {"answer": text}
