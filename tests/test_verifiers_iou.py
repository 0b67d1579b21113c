"""iou: bracket / JSON / Qwen2.5-VL boxes, several boxes, threshold vs continuous, anti-farming guards."""

from __future__ import annotations

import json
import time

import pytest

from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.iou import iou, parse_boxes, verify_iou

GOLD = "[10, 30, 110, 160]"


def test_registered_under_its_public_name():
    assert get_verifier("iou").fn is verify_iou


@pytest.mark.parametrize(
    "answer",
    [
        "[10, 30, 110, 160]",
        "[10,30,110,160]",
        "The dog is at [10, 30, 110, 160].",
        '{"bbox_2d": [10, 30, 110, 160], "label": "dog"}',
        '[{"bbox_2d": [10, 30, 110, 160], "label": "dog"}]',
        '```json\n[\n  {"bbox_2d": [10, 30, 110, 160], "label": "dog"}\n]\n```',
        '{"bbox": [10, 30, 110, 160]}',
        "(10,30),(110,160)",
        "<|box_start|>(10,30),(110,160)<|box_end|>",
        "[10.0, 30.0, 110.0, 160.0]",
        "［10，30，110，160］",  # full-width brackets and commas
    ],
)
def test_box_formats(answer):
    v = verify_iou(answer, GOLD)
    assert v.score == 1.0 and v.status == "ok", v


def test_gold_formats():
    for gold in ([10, 30, 110, 160], [[10, 30, 110, 160]], '{"bbox_2d": [10, 30, 110, 160]}', GOLD):
        assert verify_iou("[10, 30, 110, 160]", gold).score == 1.0


def test_threshold_and_continuous():
    answer = "[12, 30, 110, 160]"  # IoU 0.98
    assert verify_iou(answer, GOLD).score == 1.0
    assert verify_iou(answer, GOLD, iou_threshold=0.99).score == 0.0
    assert verify_iou(answer, GOLD, iou_threshold=None).score == pytest.approx(0.98)
    half = "[60, 30, 160, 160]"  # overlaps half of the gold: IoU 1/3
    assert verify_iou(half, GOLD).score == 0.0
    assert verify_iou(half, GOLD, iou_threshold=None).score == pytest.approx(1 / 3, abs=1e-6)
    assert verify_iou("[300, 30, 400, 160]", GOLD, iou_threshold=None).score == 0.0


def test_several_boxes_matched_one_to_one():
    gold = [[0, 0, 10, 10], [20, 20, 30, 30]]
    assert verify_iou("[0,0,10,10] [20,20,30,30]", gold).score == 1.0
    assert verify_iou("[20,20,30,30], [0,0,10,10]", gold).score == 1.0  # order does not matter
    assert verify_iou("[0,0,10,10]", gold).score == 0.5  # a missed gold box
    # the same box twice matches one gold box only; the duplicate is a miss
    assert verify_iou("[0,0,10,10] [0,0,10,10]", gold).score == 0.5
    # more boxes than the gold has are a hedge (default), or dilute the score (extra_boxes="dilute")
    spray = "[0,0,10,10] [20,20,30,30] [50,50,60,60] [70,70,80,80]"
    v = verify_iou(spray, gold)
    assert v.score == 0.0 and v.status == "hedged"
    assert verify_iou(spray, gold, extra_boxes="dilute").score == 0.5


def test_box_spam_scores_zero():
    boxes = json.dumps([[i, i, i + 10, i + 10] for i in range(0, 500, 5)])
    v = verify_iou(boxes, "[0, 0, 10, 10]")
    assert v.score == 0.0 and v.status == "hedged"
    assert verify_iou(boxes, "[0, 0, 10, 10]", max_boxes=1000).score < 0.05


@pytest.mark.parametrize("answer", ["[50, 50, 50, 50]", "[110, 160, 10, 30]", "[10, 30, 10, 160]"])
def test_degenerate_boxes_score_zero(answer):
    v = verify_iou(answer, GOLD)
    assert v.score == 0.0 and "degenerate" in v.reason


def test_whole_image_box_cannot_farm_reward():
    big_gold = "[0, 0, 400, 400]"  # covers over half of a 640x480 image
    whole = "[0, 0, 640, 480]"
    # without image_size (and pixel coordinates) only plain IoU decides: 0.52 passes 0.5
    assert verify_iou(whole, big_gold).score == 1.0
    assert verify_iou(whole, big_gold, iou_threshold=None).score == pytest.approx(160000 / 307200, abs=1e-6)
    v = verify_iou(whole, big_gold, image_size=[640, 480])
    assert v.score == 0.0 and v.reason == "whole-image box"
    assert verify_iou(whole, big_gold, image_size={"width": 640, "height": 480}).score == 0.0
    # normalised coordinates: the image is the unit square
    assert verify_iou("[0, 0, 1, 1]", "[0, 0, 0.7, 0.8]").score == 0.0
    # a gold that is itself (nearly) the whole image may be matched by one
    assert verify_iou(whole, "[0, 0, 630, 475]", image_size=[640, 480]).score == 1.0
    assert verify_iou(whole, big_gold, image_size=[640, 480], whole_image_ratio=1.01).score == 1.0


def test_non_finite_coordinates_are_degenerate_misses():
    # regression: NaN boxes were dropped/compared with NaN arithmetic; now a degenerate miss
    assert verify_iou("[0, 0, NaN, 5]", "[0, 0, 5, 5]").score == 0.0
    assert verify_iou("[[0, 0, 5, 5], [NaN, 0, 5, 5]]", "[0, 0, 5, 5]", extra_boxes="dilute").score == 0.5
    assert verify_iou("[0, 0, Infinity, Infinity]", "[0, 0, 5, 5]", iou_threshold=None).score == 0.0
    assert verify_iou("[1e400, 0, 5, 5]", "[0, 0, 5, 5]").score == 0.0


def test_deeply_nested_json_does_not_raise():
    # regression: json.loads raised RecursionError out of the verifier
    nested = "[" * 3000 + "]" * 3000
    assert verify_iou(nested, GOLD).status == "no_answer"
    assert verify_iou(GOLD, nested).status == "invalid_gold"
    deep_obj = '{"a":' * 2000 + "1" + "}" * 2000
    assert verify_iou(deep_obj, GOLD).status == "no_answer"


def test_no_box_and_invalid_gold():
    assert verify_iou("the dog", GOLD).status == "no_answer"
    assert verify_iou("", GOLD).status == "no_answer"
    assert verify_iou(GOLD, "no box here").status == "invalid_gold"
    assert verify_iou(GOLD, "[5, 5, 5, 5]").status == "invalid_gold"


def test_iou_function():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_parse_is_capped_and_fast():
    t = time.perf_counter()
    parse_boxes("[1, 2, 3, 4]" * 20_000)
    parse_boxes("[" + "1," * 50_000)
    parse_boxes("(1,2)" * 20_000)
    assert time.perf_counter() - t < 1.0


# ---- issue 10: options are validated up front -------------------------------------------------


@pytest.mark.parametrize(
    "options, name, allowed",
    [({"iou_threshold": -1}, "iou_threshold", "null or a finite number in (0, 1]"), ({"iou_threshold": 0}, "iou_threshold", "(0, 1]"),
     ({"iou_threshold": float("nan")}, "iou_threshold", "(0, 1]"), ({"iou_threshold": 1.5}, "iou_threshold", "(0, 1]"),
     ({"whole_image_ratio": 0}, "whole_image_ratio", "> 0"), ({"max_boxes": 0}, "max_boxes", ">= 1"),
     ({"max_boxes": 2.5}, "max_boxes", "integer"), ({"iou_treshold": 0.5}, "iou_treshold", "known options")],
)  # fmt: skip
def test_bad_options_are_a_clear_error(options, name, allowed):
    from wethink_verl.verifiers.registry import validate_options

    for call in (lambda: validate_options("iou", options), lambda: verify_iou("[10, 30, 110, 160]", GOLD, **options)):
        with pytest.raises(ValueError) as e:
            call()
        assert name in str(e.value) and allowed in str(e.value), e.value


def test_negative_threshold_no_longer_pays_a_far_box():
    # regression: iou_threshold=-1 paid a box with IoU 0.005
    with pytest.raises(ValueError):
        verify_iou("[100, 150, 200, 300]", GOLD, iou_threshold=-1)


def test_several_boxes_for_one_object_are_a_hedge():
    # one right box next to a wrong one: "A or B" for a box. Scored 0.5 before (dilution).
    for answer in ("[10, 30, 110, 160], [300, 300, 400, 400]", "[300, 300, 400, 400] [10, 30, 110, 160]"):
        v = verify_iou(answer, GOLD)
        assert v.score == 0.0 and v.status == "hedged", (answer, v)
    assert verify_iou("[10, 30, 110, 160], [300, 300, 400, 400]", GOLD, extra_boxes="dilute").score == 0.5
    with pytest.raises(ValueError, match="extra_boxes='keep' is not allowed: allowed one of hedge, dilute"):
        verify_iou(GOLD, GOLD, extra_boxes="keep")


def test_the_same_box_written_twice_is_one_answer_and_spaces_separate_coordinates():
    assert verify_iou("[10, 30, 110, 160] [10, 30, 110, 160]", GOLD).score == 1.0
    assert verify_iou("[10 30 110 160]", GOLD).score == 1.0
    assert verify_iou("[0.1, 0.2, 0.25, 0.6]", "[0.1, 0.2, 0.4, 0.6]").score == 1.0  # IoU 0.5 up to float noise


def test_a_parenthesised_box():
    assert verify_iou("(10, 30, 110, 160)", GOLD).score == 1.0
    assert verify_iou("(10,30),(110,160)", GOLD).score == 1.0


def test_the_right_box_sprayed_past_the_limit_is_still_a_hedge():
    v = verify_iou("[10, 30, 110, 160] " * 50, GOLD)
    assert v.score == 0.0 and v.status == "hedged", v
