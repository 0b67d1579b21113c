"""``iou``: bounding boxes by intersection over union.

Reads ``[x1, y1, x2, y2]``, Qwen2.5-VL JSON (``{"bbox_2d": [...], "label": ...}`` or a list of
them), several boxes, and ``(x1, y1), (x2, y2)``. Boxes are matched one to one (greedy by IoU);
a missed gold box counts 0. More boxes than the gold has are a hedge (``extra_boxes="hedge"``,
the default: two boxes for one object score 0 like "A or B"), or, for detection-style scoring,
count as misses (``extra_boxes="dilute"``: the score is matched / max(gold, predicted)).
Degenerate boxes score 0; a box covering (nearly) the whole image scores 0 unless the gold
does too (needs ``image_size``, or normalised 0-1 coordinates); more than ``max_boxes`` boxes
scores 0.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from . import normalize as norm
from .options import OneOf, Range, VerifierOptions, option
from .registry import register
from .types import Verdict, hedged, invalid_gold, no_answer

Box = tuple[float, float, float, float]
_NUM = r"\s*(-?\d+(?:\.\d+)?)\s*"
# "[x1, y1, x2, y2]" or "[x1 y1 x2 y2]", on whitespace-collapsed text (one space at most per gap)
_BRACKET = re.compile(r"\[ ?" + "(?: ?, ?| )".join([r"(-?\d+(?:\.\d+)?)"] * 4) + r" ?\]")
_TUPLE = re.compile(r"\( ?" + "(?: ?, ?)".join([r"(-?\d+(?:\.\d+)?)"] * 4) + r" ?\)")  # "(x1, y1, x2, y2)"
_PAIRS = norm.linear(r"\(" + _NUM + "," + _NUM + r"\)\s*,?\s*(?:to|-)?\s*\(" + _NUM + "," + _NUM + r"\)")
_WS = re.compile(r"\s+")
_BOX_KEYS = ("bbox_2d", "bbox", "box", "bounding_box")
MAX_PARSED_BOXES = 200


_DEGENERATE: Box = (0.0, 0.0, 0.0, 0.0)
MAX_JSON_DEPTH = 6  # [{"bbox_2d": [..]}] is depth 3; deeper nesting is not a box list


def _coords(values: Sequence[Any]) -> Box | None:
    if len(values) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    box = tuple(float(v) for v in values)
    # NaN/Infinity: kept as a degenerate box, so it still counts as a miss
    return box if all(math.isfinite(v) for v in box) else _DEGENERATE  # type: ignore[return-value]


def _from_json(obj: Any, out: list[Box], depth: int = 0) -> None:
    if len(out) >= MAX_PARSED_BOXES or depth > MAX_JSON_DEPTH:
        return
    if isinstance(obj, dict):
        for key in _BOX_KEYS:
            if key in obj:
                _from_json(obj[key], out, depth + 1)
                return
    elif isinstance(obj, (list, tuple)):
        box = _coords(obj)
        if box is not None:
            out.append(box)
        else:
            for item in obj:
                _from_json(item, out, depth + 1)


def parse_boxes(value: Any) -> list[Box]:
    if value is None:
        return []
    if not isinstance(value, str):
        out: list[Box] = []
        _from_json(value if not hasattr(value, "tolist") else value.tolist(), out)
        return out
    # whitespace runs collapsed first, and _PAIRS runs on RE2: with re its three \s* around optional
    # separators were cubic in a run ("(1,2)" + 4000 spaces took about a minute)
    text = _WS.sub(" ", norm.fold_width(norm.cap(value)).replace("```json", "").replace("```", ""))
    first = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    last = max(text.rfind("]"), text.rfind("}"))
    if 0 <= first < last:
        try:
            out = []
            _from_json(json.loads(text[first : last + 1]), out)
            if out:
                return out
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser's stack
            pass
    boxes = [b for b in (_coords([float(g) for g in m.groups()]) for m in _BRACKET.finditer(text)) if b]
    if not boxes:
        boxes = [b for b in (_coords([float(g) for g in m.groups()]) for m in _TUPLE.finditer(text)) if b]
    if not boxes:
        boxes = [b for b in (_coords([float(g) for g in m.groups()]) for m in _PAIRS.finditer(text)) if b]
    return boxes[:MAX_PARSED_BOXES]


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(golds: Sequence[Box], preds: Sequence[Box]) -> list[float]:
    """IoU of each one-to-one match, greedy by IoU (boxes per answer are few)."""
    pairs = sorted(((iou(g, p), i, j) for i, g in enumerate(golds) for j, p in enumerate(preds)), reverse=True)
    used_g, used_p, matched = set(), set(), []
    for value, i, j in pairs:
        if value <= 0 or i in used_g or j in used_p:
            continue
        used_g.add(i)
        used_p.add(j)
        matched.append(value)
    return matched


def _image_area(image_size: Any, boxes: Sequence[Box]) -> float | None:
    if image_size:
        w, h = (image_size["width"], image_size["height"]) if isinstance(image_size, dict) else image_size
        return float(w) * float(h)
    if boxes and all(0.0 <= v <= 1.0 for b in boxes for v in b):
        return 1.0  # normalised coordinates
    return None


@dataclass(frozen=True)
class IouOptions(VerifierOptions):
    verifier: ClassVar[str] = "iou"
    data_keys: ClassVar[tuple[str, ...]] = ("image_size",)
    iou_threshold: float | None = option(0.5, Range(0.0, 1.0, lo_open=True, nullable=True), "null: continuous IoU")
    whole_image_ratio: float = option(0.9, Range(0.0, lo_open=True))
    max_boxes: int | None = option(None, Range(1, integer=True, nullable=True))
    extra_boxes: str = option("hedge", OneOf(("hedge", "dilute")))


@register("iou", options=IouOptions)
def verify_iou(answer: str, ground_truth: Any, *, image_size: Any = None, **options: Any) -> Verdict:
    """Per row: ``image_size`` ((width, height) or {"width", "height"}) for the whole-image guard
    (the scorer passes the row's ``image_size``). Options (``IouOptions``): ``iou_threshold`` (0.5,
    in (0, 1]: a match counts 1 at or above it; null: continuous IoU); ``whole_image_ratio`` (0.9,
    > 0); ``max_boxes`` (default max(10, 4 × gold boxes)); ``extra_boxes`` (hedge | dilute: more
    predicted boxes than gold boxes score 0, or count as misses)."""
    opts = IouOptions.of(options)
    iou_threshold, whole_image_ratio, max_boxes = opts.iou_threshold, opts.whole_image_ratio, opts.max_boxes
    golds = parse_boxes(ground_truth)
    if not golds or any(area(g) <= 0 for g in golds):
        return invalid_gold(ground_truth, "ground truth holds no valid box")
    if answer is None or not str(answer).strip():
        return no_answer()
    preds = parse_boxes(answer)
    if not preds:
        return no_answer("no box found")
    shown = json.dumps([list(p) for p in preds[:4]])
    limit = max_boxes if max_boxes is not None else max(10, 4 * len(golds))
    if len(preds) > limit:
        return hedged(shown, f"{len(preds)} boxes > limit {limit}")
    preds = list(dict.fromkeys(preds))  # the same box written twice (within the limit) is one answer
    if len(preds) > len(golds) and opts.extra_boxes == "hedge":
        return hedged(shown, f"{len(preds)} boxes for {len(golds)} gold box{'es' if len(golds) > 1 else ''}")
    valid = [p for p in preds if area(p) > 0]
    if not valid:
        return Verdict(0.0, shown, "degenerate box (zero or negative area)")
    image_area = _image_area(image_size, golds + valid)
    if image_area:
        gold_max = max(area(g) for g in golds) / image_area
        if gold_max < whole_image_ratio and any(area(p) / image_area >= whole_image_ratio for p in valid):
            return Verdict(0.0, shown, "whole-image box")
    matched = match_boxes(golds, preds)  # degenerate predictions stay in the count as misses
    denominator = max(len(golds), len(preds))
    if iou_threshold is None:
        score = sum(matched) / denominator
    else:
        score = sum(1.0 for v in matched if v >= iou_threshold - 1e-9) / denominator  # 0.49999999 is 0.5
    best = max(matched, default=0.0)
    return Verdict(round(min(1.0, score), 6), shown, f"{len(matched)}/{denominator} matched, best IoU {best:.3f}")
