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


# ---- issue 10: negative sentences without "no", idioms with "no" that are not a hedge, options ----


@pytest.mark.parametrize(
    "answer",
    ["That isn't the case.", "I do not believe so.", "Nobody is holding it.", "Not one bird is visible.",
     "I don't think so.", "It is not.", "None of the people are wearing hats.", "There aren't any cars.",
     "Neither of them is red.", "The cat never leaves the sofa.", "It cannot fly.", "Nothing is on the table."],
)  # fmt: skip
def test_negative_sentence_without_the_word_no_is_no(answer):
    v = verify_yesno(answer, "no")
    assert v.score == 1.0, v
    assert verify_yesno(answer, "yes").score == 0.0


@pytest.mark.parametrize(
    "answer",
    ["Not sure.", "I cannot tell from the image.", "I don't know.", "It's not clear.", "It cannot be determined.",
     "I'm not certain.", "It is impossible to say.", "There is not enough information."],
)  # fmt: skip
def test_uncertainty_is_no_answer_not_no(answer):
    v = verify_yesno(answer, "no")
    assert v.score == 0.0 and v.status == "no_answer", v


@pytest.mark.parametrize("answer", ["Yes, no question about it.", "Yes, no doubt.", "No doubt about it, yes.", "Yes - no problem at all.",
                                    "Sure.", "Absolutely.", "Of course.", "Definitely, the light is on."])  # fmt: skip
def test_yes_with_an_idiom_using_no_is_yes_not_a_hedge(answer):
    v = verify_yesno(answer, "yes")
    assert v.score == 1.0, v


@pytest.mark.parametrize("answer", ["yes, no", "Yes, no, maybe.", "yes no yes no", "No. Yes."])
def test_both_answers_up_front_stay_a_hedge(answer):
    assert verify_yesno(answer, "yes").status == "hedged"


def test_options_unknown_is_an_error():
    with pytest.raises(ValueError, match="yesno: unknown option 'strict'"):
        verify_yesno("yes", "yes", strict=True)


@pytest.mark.parametrize("answer", ["There is a dog in the image.", "A dog is sitting on the grass.", "The image shows a dog.",
                                    "I see two dogs near the car."])  # fmt: skip
def test_an_answer_restating_the_question_is_yes(answer):
    q = "Is there a dog in the image? Please answer yes or no."
    assert verify_yesno(answer, "yes", problem=q).score == 1.0
    assert verify_yesno(answer, "no", problem=q).score == 0.0
    assert verify_yesno(answer, "yes").status == "no_answer"  # without the question it says nothing


@pytest.mark.parametrize("answer", ["The dog is brown.", "There is a cat in the image.", "The image is dark."])
def test_a_statement_that_leaves_out_the_question_is_not_yes(answer):
    assert verify_yesno(answer, "yes", problem="Is the dog black?").status == "no_answer"


@pytest.mark.parametrize("answer", ["It appears so.", "I think so.", "It does.", "There is."])
def test_short_affirmations(answer):
    assert verify_yesno(answer, "yes").score == 1.0
    assert verify_yesno("I don't think so.", "no").score == 1.0


def test_the_scorer_passes_the_question():
    from wethink_verl.reward import RewardScorer

    r = RewardScorer({}).score({"response": "<think>x</think><answer>A dog is on the grass.</answer>", "ground_truth": "yes",
                                "verifier": "yesno", "problem": "Is there a dog in the image?"})  # fmt: skip
    assert r["accuracy"] == 1.0


@pytest.mark.parametrize("answer", ["Not yes.", "not true", "It is not correct.", "That's not right."])
def test_a_negated_yes_word_is_no(answer):
    assert verify_yesno(answer, "yes").score == 0.0
    assert verify_yesno(answer, "no").score == 1.0


@pytest.mark.parametrize("answer, polarity", [("Definitely no.", "no"), ("Absolutely not.", "no"), ("Not no.", None), ("Sure, yes.", "yes")])
def test_intensifiers_and_double_negatives(answer, polarity):
    assert read_polarity(answer)[0] == polarity
