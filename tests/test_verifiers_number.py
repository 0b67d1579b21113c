"""number: commas, units, %, scientific notation, fractions, counting sentences, tolerances, hedges."""

from __future__ import annotations

import time

import pytest

from wethink_verl.verifiers import get_verifier
from wethink_verl.verifiers.number import find_numbers, read_number, verify_number


def test_registered_under_its_public_name():
    assert get_verifier("number").fn is verify_number


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
    assert verify_number("101", "100", rel_tol=0.02).score == 1.0


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
