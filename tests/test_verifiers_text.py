"""text: normalised exact match, gold stated in a short answer, ANLS / similarity, width folding."""

from __future__ import annotations

import time

import pytest

from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.text import exact_key, verify_text


def test_registered_under_its_public_name():
    assert get_verifier("text").fn is verify_text


@pytest.mark.parametrize(
    "answer, gold",
    [("STOP", "stop"), ("Stop.", "stop"), ("the cat", "cat"), ("**Cat**", "cat"), ("\\text{cat}", "cat"),
     ("ＳＴＯＰ", "stop"), ("stop", "ＳＴＯＰ"), ("東京", "東京"), ("  New   York ", "new york")],
)  # fmt: skip
def test_exact_after_normalisation(answer, gold):
    v = verify_text(answer, gold)
    assert v.score == 1.0 and v.reason == "exact match", v


def test_full_width_folding_in_the_key():
    assert exact_key("ＡＢＣ１２３，") == "abc123"


@pytest.mark.parametrize("answer", ["The sky is blue.", "It is blue", "blue, clearly blue", "The sky is blue, clear and bright"])
def test_gold_contained_in_a_short_answer(answer):
    v = verify_text(answer, "blue")
    assert v.score == 1.0 and "short answer" in v.reason, v


def test_containment_needs_whole_words_and_a_short_answer():
    assert verify_text("blueberry", "blue").score == 0.0
    assert verify_text("The sky today, as far as I can tell from this photo, is blue", "blue").score == 0.0
    assert verify_text("The sky today, as far as I can tell from this photo, is blue", "blue", containment_slack=20).score == 1.0
    assert verify_text("图中是一只猫", "猫").score == 1.0  # CJK: containment without spaces


@pytest.mark.parametrize("answer", ["red or blue", "blue/red", "either blue or red", "蓝色或红色"])
def test_hedges_score_zero(answer):
    gold = "蓝色" if "蓝" in answer else "blue"
    v = verify_text(answer, gold)
    assert v.score == 0.0 and v.status == "hedged", v


@pytest.mark.parametrize("answer", ["red, blue, green", "red and blue", "red; blue", "blue & red", "猫、狗"])
def test_lists_of_candidates_are_hedges(answer):
    # regression: "red, blue, green" for the gold "blue" scored 1 ("gold stated in a short answer")
    gold = "猫" if "猫" in answer else "blue"
    v = verify_text(answer, gold)
    assert v.score == 0.0 and v.status == "hedged", v


def test_a_qualifier_after_a_comma_is_not_a_list():
    assert verify_text("Paris, France", "Paris").score == 1.0
    assert verify_text("salt and pepper", "salt and pepper").score == 1.0


def test_anls_for_long_golds():
    gold = "Total amount due: $42.00"
    v = verify_text("Total amount due: $42.0O", gold)
    assert 0.9 < v.score < 1.0 and v.status == "ok"
    assert verify_text("Something else entirely", gold).score == 0.0  # below the 0.5 threshold
    assert verify_text("Total amount due: $42.00", gold).score == 1.0


def test_modes_and_threshold():
    gold = "Total amount due: $42.00"
    answer = "Total due $42"
    anls = verify_text(answer, gold, mode="anls").score
    sim = verify_text(answer, gold, mode="similarity").score
    assert 0 < anls == sim < 1
    assert verify_text(answer, gold, mode="anls", threshold=0.99).score == 0.0
    assert verify_text(answer, gold, mode="similarity", threshold=0.99).score == sim  # continuous: no cut-off
    assert verify_text(answer, gold, mode="exact").score == 0.0
    assert verify_text("The sky is blue", "blue", mode="exact").score == 1.0  # contained counts in exact mode
    assert verify_text("bleu", "blue", mode="similarity").score == pytest.approx(0.5)
    with pytest.raises(ValueError):
        verify_text("a", "a", mode="fuzzy")


def test_short_max_words_decides_exact_versus_anls():
    assert verify_text("The Great Wall", "the great wal").score == 0.0  # 3 words: exact needed
    assert verify_text("The Great Wall", "the great wal", short_max_words=1).score > 0.9


def test_several_golds_the_best_counts():
    assert verify_text("dog", ["cat", "dog"]).score == 1.0
    assert verify_text("dog", '["cat", "dog"]').score == 1.0


def test_no_answer_and_invalid_gold():
    assert verify_text("", "cat").status == "no_answer"
    assert verify_text("?!", "cat").status == "no_answer"
    assert verify_text("cat", "").status == "invalid_gold"


def test_long_inputs_capped():
    t = time.perf_counter()
    verify_text("word " * 50_000, "a long gold answer " * 100)
    verify_text("a" * 100_000, "b" * 100_000, mode="similarity")
    assert time.perf_counter() - t < 2.0
