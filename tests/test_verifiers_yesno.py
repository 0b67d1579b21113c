"""yesno: yes/no and true/false in several languages; hedges score 0."""

from __future__ import annotations

import pytest

from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.yesno import read_polarity, verify_yesno


def test_registered_under_its_public_name():
    assert get_verifier("yesno").fn is verify_yesno


YES = ["yes", "Yes.", "YES", "Yes, it is.", "yeah", "True", "correct", "Right.", "y", "**Yes**", "Ｙｅｓ",
       "ja", "oui", "sí", "si", "sim", "да", "是", "是的", "对", "正确", "有", "はい", "네", "예",
       "Yes, there is no dog in the picture."]  # fmt: skip
NO = ["no", "No.", "NO", "No, it is not true.", "nope", "False", "incorrect", "n", "nein", "non", "não",
      "нет", "不是", "不对", "否", "没有", "错", "いいえ", "아니요", "No, no."]  # fmt: skip


@pytest.mark.parametrize("answer", YES)
def test_yes_forms(answer):
    assert verify_yesno(answer, "yes").score == 1.0
    assert verify_yesno(answer, "no").score == 0.0


@pytest.mark.parametrize("answer", NO)
def test_no_forms(answer):
    assert verify_yesno(answer, "no").score == 1.0
    assert verify_yesno(answer, "yes").score == 0.0


@pytest.mark.parametrize("gold", ["Yes", "yes.", "True", "是", "YES"])
def test_gold_forms(gold):
    assert verify_yesno("yes", gold).score == 1.0


@pytest.mark.parametrize("answer", ["yes or no", "yes/no", "Yes and no", "yes, no", "No. Yes.", "是或否", "是不是", "是或不是", "有没有", "oui ou non"])
def test_hedges_score_zero(answer):
    # regression: "Yes and no" was read as yes, "是不是"/"是或否" as 是 (yes)
    for gold in ("yes", "no"):
        v = verify_yesno(answer, gold)
        assert v.score == 0.0 and v.status == "hedged", (answer, v)


def test_one_letter_words_only_as_the_whole_answer():
    # regression: "N/A" was read as "n" = no
    assert read_polarity("N/A")[0] is None
    assert verify_yesno("N/A", "no").score == 0.0
    assert verify_yesno("n", "no").score == 1.0


def test_no_polarity_is_no_answer():
    for answer in ("maybe", "I cannot tell", "", "42"):
        v = verify_yesno(answer, "yes")
        assert v.score == 0.0 and v.status == "no_answer", (answer, v)


def test_invalid_gold():
    assert verify_yesno("yes", "maybe").status == "invalid_gold"
    assert verify_yesno("yes", "").status == "invalid_gold"


@pytest.mark.parametrize("answer", ["Not really.", "Not at all", "Certainly not", "Of course not."])
def test_negative_phrases(answer):
    assert verify_yesno(answer, "no").score == 1.0
    assert verify_yesno(answer, "yes").score == 0.0


def test_not_sure_is_not_no():
    assert verify_yesno("Not sure", "no").status == "no_answer"
