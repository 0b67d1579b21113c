"""number: commas, units, %, scientific notation, fractions, counting sentences, tolerances, hedges."""

from __future__ import annotations

import doctest
import importlib
import time

import pytest

from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.number import find_numbers, read_number, verify_number


def test_registered_under_its_public_name():
    assert get_verifier("number").fn is verify_number


@pytest.mark.parametrize("module", ["number", "number_reading", "_number_words"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(f"wethink_verl.verifiers.{module}"))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("1,250", "1250"), ("1,250 kg", "1250"), ("$1,234.50", "1234.5"), ("1,234,567", "1234567"),
        ("3 cm", "3"), ("12 apples", "12"), ("-3", "-3"), ("−3", "-3"), ("3.0", "3"), (".5", "0.5"),
        ("45%", "45%"), ("45\\%", "45"), ("45 percent", "45"), ("45%", "0.45"), ("0.45", "45%"),
        ("1.2e-3", "0.0012"), ("1.2E3", "1200"), ("1.2 \\times 10^{3}", "1200"), ("1.2 × 10^3 m", "1200"),
        ("10^3", "1000"), ("10^{-2}", "0.01"), ("-10^{2}", "-100"),
        ("3/4", "0.75"), ("\\frac{3}{4}", "0.75"), ("\\dfrac{1}{2}", "1/2"), ("-\\frac{1}{2}", "-0.5"),
        ("There are 3 objects.", "3"), ("There are three apples.", "3"), ("I count 12 birds in the image.", "12"),
        ("twelve", "12"), ("The total is 3 × 4 = 12", "12"), ("**7**", "7"), ("Ｔｈｅｒｅ ａｒｅ ５", "5"),
    ],
)  # fmt: skip
def test_right(answer, gold):
    v = verify_number(answer, gold)
    assert v.score == 1.0 and v.status == "ok", v


@pytest.mark.parametrize(
    "answer, gold",
    [("4", "3"), ("-3", "3"), ("3.5", "3"), ("There are 4 objects.", "3"), ("0.45", "45"), ("1200", "1.2e-3"), ("10^3", "100")],
)
def test_wrong(answer, gold):
    v = verify_number(answer, gold)
    assert v.score == 0.0 and v.status == "ok", v


def test_rel_tol_and_abs_tol():
    assert verify_number("3.1416", "3.14159").score == 0.0  # default rel_tol 1e-6
    assert verify_number("3.1416", "3.14159", rel_tol=0.001).score == 1.0
    assert verify_number("3.15", "3.14159").score == 0.0
    assert verify_number("3.15", "3.14159", rel_tol=0.01).score == 1.0
    assert verify_number("3.2", "3.14159", rel_tol=0.01).score == 0.0
    assert verify_number("0.0001", "0", abs_tol=1e-3).score == 1.0
    assert verify_number("0.01", "0", abs_tol=1e-3).score == 0.0
    assert verify_number("101", "100.0", rel_tol=0.02).score == 1.0
    assert verify_number("101", "100", rel_tol=0.02).score == 0.0  # an integer gold: 101 is another integer


def test_round_to_gold_and_percent_options():
    assert verify_number("2.54", "2.5").score == 1.0  # the gold is written to one decimal
    assert verify_number("2.54", "2.5", round_to_gold=False).score == 0.0
    assert verify_number("2.6", "2.5").score == 0.0
    assert verify_number("45%", "0.45", percent_equivalence=False).score == 0.0


@pytest.mark.parametrize("answer", ["3 or 4", "between 3 and 5", "3~4", "3 ± 1", "3 to 4", "3或4", "3, 4, 5", "approx 3 or 4"])
def test_hedges_score_zero(answer):
    v = verify_number(answer, "3")
    assert v.score == 0.0 and v.status == "hedged", v


def test_same_number_repeated_is_not_a_hedge():
    assert verify_number("3, yes 3", "3").score == 1.0


def test_no_number_is_no_answer_not_a_guess():
    for answer in ("", None, "many", "I can't tell", "inf"):
        v = verify_number(answer, "3")
        assert v.score == 0.0 and v.status == "no_answer", (answer, v)


def test_invalid_gold():
    assert verify_number("3", "three or four").status == "invalid_gold"
    assert verify_number("3", "").status == "invalid_gold"
    assert verify_number("3", None).status == "invalid_gold"


def test_several_golds():
    assert verify_number("4", ["3", "4"]).score == 1.0
    assert verify_number("4", '["3", "4"]').score == 1.0


def test_huge_exponents_do_not_raise():
    # regression: "1e400" raised OverflowError out of the verifier
    for answer in ("1e400", "1.5E+999", "10^{400}", "9" * 5000):
        v = verify_number(answer, "5")
        assert v.score == 0.0, (answer, v)


def test_powers_of_ten_exponent_is_not_a_second_number():
    nums = find_numbers("10^{3}")
    assert [n.value for n in nums] == [1000.0]
    assert read_number("2 \\times 10^{3}")[0].value == 2000.0


def test_long_inputs_are_capped_and_linear():
    for answer in ("1" * 100_000, "1." * 50_000, "1,000" * 20_000, "-" * 100_000 + "3", "\\frac{" * 20_000):
        t = time.perf_counter()
        verify_number(answer, "3")
        assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("answer, gold", [("有3个苹果", "3"), ("图中有3只猫。", "3"), ("共12个", "12"), ("答案是5", "5"), ("约为45%", "45%")])
def test_numbers_next_to_cjk_text(answer, gold):
    # regression: a number right after a CJK character ("有3个") was not read at all (\w lookbehind)
    assert verify_number(answer, gold).score == 1.0
    assert verify_number(answer, "7").score == 0.0


@pytest.mark.parametrize("answer, gold", [("六个", "6"), ("十二只", "12"), ("二十五", "25"), ("两百", "200"), ("一百零五", "105"), ("图中有三只猫", "3")])
def test_chinese_numerals(answer, gold):
    assert verify_number(answer, gold).score == 1.0
    assert verify_number(answer, "7").score == 0.0


def test_chinese_numeral_runs_that_are_not_one_number():
    assert verify_number("三四个", "3").score == 0.0  # "three or four"
    assert verify_number("有3个", "3").score == 1.0  # digits win over numerals


# ---- issue 10: units, tolerance against the gold, integers, counting, options --------------------


@pytest.mark.parametrize(
    "answer, gold",
    [("12.5 g", "12.5 kg"), ("4 m", "4 cm"), ("90 mph", "90 km/h"), ("20 mm", "20 cm"), ("3 hours", "3 minutes"),
     ("5 kg", "5 m"), ("30 °F", "30 °C"), ("30 degrees", "30 radians"), ("2 m^2", "2 m"), ("6 GB", "6 MB")],
)  # fmt: skip
def test_units_a_different_unit_or_dimension_is_wrong(answer, gold):
    v = verify_number(answer, gold)
    assert v.score == 0.0, v


@pytest.mark.parametrize(
    "answer, gold",
    [("20 mm", "2 cm"), ("2 cm", "20 mm"), ("1.5 km", "1500 m"), ("2 kg", "2000 g"), ("90 minutes", "1.5 hours"),
     ("144.84 km/h", "90 mph"), ("68 °F", "20 °C"), ("30 degrees", "30°"), ("3 m²", "3 m^2"), ("3 square meters", "3 m^2"),
     ("12.5 kilograms", "12.5 kg"), ("12.5", "12.5 kg"), ("12.5 kg", "12.5"), ("There are 3 apples.", "3"), ("2 cups", "2")],
)  # fmt: skip
def test_units_the_same_quantity_in_another_unit_is_right(answer, gold):
    v = verify_number(answer, gold, rel_tol=1e-4)
    assert v.score == 1.0, v


def test_units_two_spellings_of_one_quantity_are_not_a_hedge():
    assert verify_number("2 cm (20 mm)", "2 cm").score == 1.0
    assert verify_number("2 cm or 3 cm", "2 cm").status == "hedged"


def test_tolerance_is_measured_against_the_gold():
    # ChartQA's relaxed accuracy: |pred - gold| <= 5 % of |gold|, not of max(|pred|, |gold|)
    assert verify_number("105", "100.0", rel_tol=0.05).score == 1.0
    assert verify_number("95.2", "100.0", rel_tol=0.05).score == 1.0
    assert verify_number("94.9", "100.0", rel_tol=0.05).score == 0.0
    # math.isclose would pay 0.95 for a gold of 1.0 (|d| <= 5 % of the larger): so does ChartQA; 0.949 not
    assert verify_number("0.949", "1.0", rel_tol=0.05).score == 0.0
    assert verify_number("1.0", "0.95", rel_tol=0.05).score == 0.0  # 5.3 % of the gold


@pytest.mark.parametrize("answer, gold", [("1998", "1997"), ("21", "20"), ("1007", "1000"), ("44", "45"), ("2,001", "2000"), ("1998.0", "1997")])
def test_tolerance_never_makes_a_different_integer_right(answer, gold):
    # a year, a count, an id: a tolerance turns none of them into another
    assert verify_number(answer, gold, rel_tol=0.05).score == 0.0


def test_tolerance_still_pays_a_close_decimal_reading_of_an_integer_gold():
    assert verify_number("44.8", "45", rel_tol=0.05).score == 1.0
    assert verify_number("1998", "1997", rel_tol=0.05, integer_exact=False).score == 1.0


@pytest.mark.parametrize("answer", ["No apples are on the table.", "There are none.", "None.", "Not one bird is visible.",
                                    "There aren't any apples.", "Zero.", "Nobody is in the room.", "There is not a single car."])  # fmt: skip
def test_counting_zero_said_in_words(answer):
    v = verify_number(answer, "0")
    assert v.score == 1.0, v
    assert verify_number(answer, "1").score == 0.0


@pytest.mark.parametrize(
    "answer, value",
    [("I count 2 cups and 1 plate, so 2 cups.", 2), ("3 red and 2 blue, so 5 in total.", 5), ("3 + 4 = 7", 7),
     ("There are 4 dogs and 3 cats; therefore the answer is 7.", 7), ("twenty-five", 25), ("one hundred and five", 105),
     ("a dozen eggs", 12), ("Two.", 2)],
)  # fmt: skip
def test_counting_the_concluding_number_decides(answer, value):
    v = verify_number(answer, str(value))
    assert v.score == 1.0, v


@pytest.mark.parametrize("answer", ["I count 2 cups and 1 plate.", "so 2 or 3", "The answer is 2 or 3.", "2, 3, so maybe 2 or 3"])
def test_counting_several_numbers_without_a_conclusion_are_a_hedge(answer):
    v = verify_number(answer, "2")
    assert v.score == 0.0 and v.status == "hedged", v


@pytest.mark.parametrize(
    "options, name, allowed",
    [({"rel_tol": float("nan")}, "rel_tol", "[0, 1)"), ({"rel_tol": 1e308}, "rel_tol", "[0, 1)"), ({"rel_tol": -0.1}, "rel_tol", "[0, 1)"),
     ({"abs_tol": float("inf")}, "abs_tol", ">= 0"), ({"round_to_gold": "yes"}, "round_to_gold", "true, false"),
     ({"rel_tol": "0.05"}, "rel_tol", "[0, 1)")],
)  # fmt: skip
def test_options_bad_values_are_a_clear_error(options, name, allowed):
    from wethink_verl.verifiers.registry import validate_options

    for call in (lambda: validate_options("number", options), lambda: verify_number("3", "3", **options)):
        with pytest.raises(ValueError) as e:
            call()
        assert name in str(e.value) and allowed in str(e.value), e.value


def test_options_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown option 'rel_tolerance'.*rel_tol"):
        verify_number("3", "3", rel_tolerance=0.1)


@pytest.mark.parametrize("answer", ["There are 4 bars above 50.", "4 people are older than 30.", "4 of them cost more than $20."])
def test_counting_a_number_after_a_comparison_qualifies_the_answer(answer):
    assert verify_number(answer, "4").score == 1.0
    assert verify_number("Between 3 and 5 bars are above 50.", "4").status == "hedged"


@pytest.mark.parametrize("answer", ["It is not 3.", "Not 3", "The count isn't 3.", "Anything but 3", "never 3"])
def test_negated_number_is_not_stated(answer):
    v = verify_number(answer, "3")
    assert v.score == 0.0, v


def test_a_number_next_to_a_ruled_out_one():
    assert verify_number("4, not 3", "4").score == 1.0
    assert verify_number("It is not 3 but 4.", "4").score == 1.0


@pytest.mark.parametrize("answer", ["9, 9 mph", "9 or 9 mph", "46, 46 °F, 46 degrees"])
def test_units_a_unitless_number_next_to_a_wrong_unit_is_that_unit(answer):
    # bench_reward_hacking.py found these paid 1.0: the unitless reading was taken
    assert verify_number(answer, "9 km/h" if "9" in answer else "46 °C").score == 0.0
