"""choice: option letters in every common spelling, option text, hedges, multi-letter golds."""

from __future__ import annotations

import pytest

from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.choice import parse_choices, parse_letters, verify_choice

CHOICES = {"A": "cat", "B": "rabbit", "C": "dog", "D": "parrot"}
PROBLEM = "What animal is on the sofa?\nA. cat\nB. rabbit\nC. dog\nD. parrot"


def test_registered_under_its_public_name():
    assert get_verifier("choice").fn is verify_choice


@pytest.mark.parametrize(
    "answer",
    ["B", "b", "(B)", "B.", "B)", "[B]", "（B）", "Ｂ", "**B**", "B) rabbit", "(B) rabbit", "B. rabbit", "B: rabbit",
     "The answer is B", "The answer is (B).", "Answer: B", "The correct option is B.", "option B", "选B", "答案是B",
     "I'd go with B", "I'm sure it's B", "I think B", "$B$", "\\boxed{B}"],
)  # fmt: skip
def test_letter_spellings_right(answer):
    v = verify_choice(answer, "B")
    assert (v.score, v.status, v.extracted) == (1.0, "ok", "B"), v


@pytest.mark.parametrize("answer", ["A", "(C)", "The answer is D.", "C) dog"])
def test_wrong_letter_scores_zero_and_says_why(answer):
    v = verify_choice(answer, "B")
    assert v.score == 0.0 and v.status == "ok" and "!=" in v.reason


@pytest.mark.parametrize("answer", ["rabbit", "Rabbit.", "It is a rabbit.", "a rabbit"])
def test_option_text_with_choices(answer):
    assert verify_choice(answer, "B", choices=CHOICES).score == 1.0
    assert verify_choice(answer, "A", choices=CHOICES).score == 0.0


def test_option_text_with_choices_as_list_or_question_text():
    assert verify_choice("rabbit", "B", choices=["cat", "rabbit", "dog"]).score == 1.0
    assert verify_choice("rabbit", "B", choices=PROBLEM).score == 1.0
    # options parsed from the problem when no choices are given
    assert verify_choice("rabbit", "B", problem=PROBLEM).score == 1.0
    assert verify_choice("dog", "B", problem=PROBLEM).score == 0.0
    assert verify_choice("rabbit", "B", problem="(A) cat (B) rabbit (C) dog").score == 1.0


def test_parse_choices_needs_letters_in_order():
    assert parse_choices(PROBLEM) == CHOICES
    assert parse_choices("Is B. bigger than D. ?") == {}
    assert parse_choices(None) == {}


@pytest.mark.parametrize(
    "answer",
    ["A or B", "B or C", "A/B", "A, B, C, D", "ABCD", "A and B", "B、C", "either A or B", "cat or rabbit", "The answer is A. The answer is B."],
)
def test_hedges_score_zero_with_status_hedged(answer):
    v = verify_choice(answer, "B", choices=CHOICES)
    assert v.score == 0.0 and v.status == "hedged", v


def test_copying_the_option_list_is_a_hedge():
    # regression: "A. cat B. rabbit C. dog D. parrot" was read as the leading letter A
    for gold in "ABCD":
        v = verify_choice("A. cat B. rabbit C. dog D. parrot", gold, choices=CHOICES)
        assert v.score == 0.0 and v.status == "hedged", v
    v = verify_choice("(A) cat (B) rabbit", "A")
    assert v.score == 0.0 and v.status == "hedged"


def test_pronoun_i_with_apostrophe_is_not_option_i():
    # regression: "I'd go with C" was read as the hedge {C, I}
    assert verify_choice("I'd go with C", "C").score == 1.0
    assert verify_choice("I've picked D", "D").score == 1.0
    assert verify_choice("I", "I").score == 1.0  # option I itself still works


@pytest.mark.parametrize("gold", ["AC", "A, C", "A,C", "(A)(C)", "A and C", ["AC"]])
@pytest.mark.parametrize("answer", ["AC", "CA", "A, C", "C, A", "(A) (C)", "A and C", "A、C"])
def test_multi_letter_golds_need_exactly_that_set(gold, answer):
    # regression: "AC" as a gold parsed to no letters at all
    v = verify_choice(answer, gold)
    assert v.score == 1.0 and v.extracted == "AC", v


@pytest.mark.parametrize("answer", ["A", "C", "ABC", "A, B, C", "B"])
def test_multi_letter_gold_partial_or_superset_is_wrong(answer):
    assert verify_choice(answer, "AC").score == 0.0


def test_multi_letter_gold_hedge_word_is_hedged():
    v = verify_choice("A or C", "AC")
    assert v.score == 0.0 and v.status == "hedged"


def test_uppercase_words_are_not_letter_lists():
    # "DOG" is option text, not the letters D, O, G
    assert parse_letters("DOG", CHOICES)[0] == ["C"]
    assert verify_choice("DOG", "C", choices=CHOICES).score == 1.0


def test_no_answer_never_guesses():
    for answer in ("", "   ", None, "I don't know", "None of the above", "???"):
        v = verify_choice(answer, "B", choices=CHOICES)
        assert v.score == 0.0 and v.status == "no_answer", (answer, v)


def test_gold_that_is_option_text_or_a_hedge():
    assert verify_choice("rabbit", "rabbit").score == 1.0
    assert verify_choice("dog", "rabbit").score == 0.0
    assert verify_choice("B", "A or B").status == "invalid_gold"
    assert verify_choice("B", "").status == "invalid_gold"
    assert verify_choice("B", ["B", "rabbit"]).score == 1.0


def test_long_answers_are_capped_and_fast():
    import time

    t = time.perf_counter()
    v = verify_choice("The answer is B. " + "x " * 200_000, "B", choices=CHOICES)
    assert time.perf_counter() - t < 1.0
    assert v.score in (0.0, 1.0)


def test_option_a_next_to_a_conjunction_or_verb_is_an_option_not_an_article():
    assert verify_choice("A is correct", "A").score == 1.0
    assert verify_choice("I think A is right", "A").score == 1.0
    assert verify_choice("either A or B", "B").status == "hedged"
    assert verify_choice("It is a cat, so C", "C").score == 1.0  # "a cat": the article


@pytest.mark.parametrize("answer", ["Not C", "not option C", "Anything except C", "It isn't C", "rather than C"])
def test_a_negated_letter_is_not_chosen(answer):
    # regression: "Not C" was read as the letter C
    assert verify_choice(answer, "C").score == 0.0


@pytest.mark.parametrize("answer", ["C, not A", "not A but C", "It is not option B; C", "The answer is not A, it is C"])
def test_the_chosen_letter_next_to_a_negated_one(answer):
    assert verify_choice(answer, "C").score == 1.0


# ---- issue 10: negated option text, several boxes, units in option text, sentence hedges, options --


ANIMALS = {"A": "cat", "B": "dog", "C": "cow", "D": "horse"}


@pytest.mark.parametrize("answer", ["That is certainly not a horse.", "It isn't a horse.", "There is no horse.",
                                    "Definitely not the horse", "Anything but a horse"])  # fmt: skip
def test_negated_option_text_does_not_choose_it(answer):
    v = verify_choice(answer, "D", choices=ANIMALS)
    assert v.score == 0.0, v


@pytest.mark.parametrize("answer, letter", [("It is a cat, not a horse.", "A"), ("Not a horse but a cow.", "C"),
                                            ("Neither a horse nor a dog; it is a cow.", "C"), ("No horse here, only a dog.", "B")])  # fmt: skip
def test_negated_option_text_next_to_the_chosen_one(answer, letter):
    v = verify_choice(answer, letter, choices=ANIMALS)
    assert v.score == 1.0 and v.extracted == letter, v


@pytest.mark.parametrize("answer", ["Neither A nor D; it is C.", "Not A, not D: C.", "It's neither A nor B, so C"])
def test_neither_nor_letters_then_the_chosen_one(answer):
    v = verify_choice(answer, "C")
    assert v.score == 1.0 and v.extracted == "C", v


@pytest.mark.parametrize("answer", ["C, D", "\\boxed{C}\\boxed{D}", "\\boxed{C}, \\boxed{D}", "C, D, C"])
def test_several_boxed_answers_are_a_hedge(answer):
    # the contract: several distinct boxes reach the verifier as "C, D"
    for gold in "CD":
        v = verify_choice(answer, gold)
        assert v.score == 0.0 and v.status == "hedged", (gold, v)


@pytest.mark.parametrize("answer", ["The answer is A, but B is also possible.", "The answer is A (or possibly B).",
                                    "Answer: A. Maybe B though.", "I'd pick A, though C could also be right."])  # fmt: skip
def test_an_answer_phrase_with_alternatives_is_a_hedge(answer):
    v = verify_choice(answer, "A")
    assert v.score == 0.0 and v.status == "hedged", v


def test_an_answer_phrase_with_a_reason_naming_another_letter_is_not_a_hedge():
    assert verify_choice("The answer is B because A is too small.", "B").score == 1.0


ANGLES = {"A": "30°", "B": "45°", "C": "60°", "D": "90°"}


@pytest.mark.parametrize("answer, letter", [("30 degrees", "A"), ("The angle is 60 degrees.", "C"), ("90°", "D"), ("45 deg", "B")])
def test_option_text_with_the_unit_spelled_out(answer, letter):
    v = verify_choice(answer, letter, choices=ANGLES)
    assert v.score == 1.0 and v.extracted == letter, v
    assert verify_choice(answer, "A" if letter != "A" else "B", choices=ANGLES).score == 0.0


def test_option_text_in_another_unit_of_the_same_quantity():
    lengths = {"A": "2 cm", "B": "20 cm", "C": "2 m"}
    assert verify_choice("20 mm", "A", choices=lengths).score == 1.0
    assert verify_choice("200 mm", "B", choices=lengths).score == 1.0
    assert verify_choice("2 kg", "A", choices=lengths).status == "no_answer"


def test_options_are_validated():
    from wethink_verl.verifiers.registry import validate_options

    with pytest.raises(ValueError, match="choice: unknown option 'choice'.*choices"):
        verify_choice("B", "B", choice={"A": "x"})
    with pytest.raises(ValueError, match="option_text"):
        validate_options("choice", {"option_text": "no"})
    assert validate_options("choice", {"choices": ANIMALS, "problem": "Q?"}).option_text is True
    assert verify_choice("horse", "D", choices=ANIMALS, option_text=False).status == "no_answer"


@pytest.mark.parametrize("answer, letter", [("I'd say it's a cow rather than a horse.", "C"), ("A dog, not a cat.", "B"),
                                            ("Options A and C are wrong; B is right.", "B"), ("D is incorrect, so C.", "C")])  # fmt: skip
def test_options_ruled_out_before_or_after_they_are_named(answer, letter):
    v = verify_choice(answer, letter, choices=ANIMALS)
    assert v.score == 1.0 and v.extracted == letter, v


@pytest.mark.parametrize("answer", ["Anything but D", "Other than D", "Answer: D. Maybe A though.", "N/A"])
def test_farm_attempts_found_by_the_farm_benchmark(answer):
    # bench_reward_hacking.py found these paid 1.0
    assert verify_choice(answer, "D" if "D" in answer else "A").score == 0.0
