"""Answer extraction and WeThink's format rule: right, never a guess, and linear time."""

from __future__ import annotations

import time

import pytest

from wethink_verl.verifiers import answer_only, check_format, extract_answer, get_verifier, last_boxed

# ---- extraction --------------------------------------------------------------------------------


def test_answer_block_across_newlines():
    e = extract_answer("<think>a\nb</think>\n<answer>\nThe answer\nis B.\n</answer>")
    assert e.answer == "The answer\nis B." and e.source == "answer_block" and e.think == "a\nb"


def test_last_complete_answer_block_wins():
    assert extract_answer("<think>x</think><answer>A</answer><answer>C</answer>").answer == "C"
    # an unterminated last block is not complete: the last complete one counts
    assert extract_answer("<think>x</think><answer>A</answer> <answer>C").answer == "A"
    # the last think/answer pair when the model repeats the whole format
    e = extract_answer("<think>1</think><answer>A</answer><think>2</think><answer>B</answer>")
    assert e.answer == "B"


def test_boxed_inside_the_answer_block_is_unwrapped():
    e = extract_answer("<think>x</think><answer>So it is \\boxed{\\frac{1}{2}}.</answer>")
    assert e.answer == "\\frac{1}{2}" and e.source == "boxed_in_answer"
    assert extract_answer("<think>x</think><answer>\\boxed{a} then \\boxed{b}</answer>").answer == "a, b"  # several boxes
    assert extract_answer("<think>x</think><answer>\\fbox{7}</answer>").answer == "7"
    assert extract_answer("<think>x</think><answer>$\\boxed 5$</answer>").answer == "5"


@pytest.mark.parametrize(
    "region, answer",
    [("\\boxed{C}\\boxed{D}", "C, D"), ("\\boxed{C}, \\boxed{D}", "C, D"), ("\\boxed{1}, \\boxed{2}", "1, 2"),
     ("\\boxed{12}" * 50, "12"), ("\\boxed{2} so \\boxed{2}", "2"), ("\\boxed{} \\boxed{3}", "3"),
     ("\\boxed{\\frac{1}{2}} or \\boxed{3}", "\\frac{1}{2}, 3"), ("\\boxed{ unclosed, then \\boxed{5}", "5")],
)  # fmt: skip
def test_several_boxes_are_one_answer_listing_each_distinct_box_once(region, answer):
    # the multi-box contract (contracts.md): a box spray is read as a list, never as its last box
    assert extract_answer(f"<think>x</think><answer>{region}</answer>").answer == answer
    assert extract_answer(f"<think>x</think> {region}").answer == answer
    assert answer_only(region).answer == answer


def test_boxed_fallback_after_the_reasoning_only():
    e = extract_answer("<think>compute</think> so the result is \\boxed{\\sqrt{2}}.")
    assert e.answer == "\\sqrt{2}" and e.source == "boxed_fallback"
    assert extract_answer("<think>compute</think> \\boxed{2}", boxed_fallback=False).answer is None
    # a box inside the reasoning is not an answer
    e = extract_answer("<think>maybe \\boxed{3}</think> I am not sure.")
    assert e.answer is None and e.source == "none"


def test_prefilled_think_only_close_tag():
    e = extract_answer("The ears are long.</think>\n<answer>B</answer>")
    assert e.answer == "B" and e.think == "The ears are long."


def test_answer_only_inside_think_is_no_answer():
    e = extract_answer("<think>I will say <answer>B</answer> here.</think>")
    assert e.answer is None and e.source == "inside_think"
    e = extract_answer("<think>still thinking <answer>B</answer>")  # never closed
    assert e.answer is None and e.source == "inside_think"


@pytest.mark.parametrize("response", ["", "The answer is B.", "<think>x</think>", "<think>x</think><answer>   </answer>", None, 42])
def test_no_answer_is_none_never_a_guess(response):
    e = extract_answer(response)
    assert e.answer is None and not e.found  # never the string "None", never a letter picked for us
    assert e.source in ("none", "empty_answer")


def test_empty_answer_block():
    assert extract_answer("<think>x</think><answer> \n </answer>").source == "empty_answer"


def test_unbalanced_boxed():
    assert last_boxed("\\boxed{1") is None
    assert last_boxed("\\boxed{1} and \\boxed{2") == "1"
    assert last_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"


def test_long_responses_keep_their_tail():
    e = extract_answer("x" * 300_000 + "</think><answer>B</answer>")
    assert e.answer == "B" and e.truncated


def test_answer_only():
    assert answer_only("B").answer == "B"
    assert answer_only("  \\boxed{42} ").answer == "42"
    assert answer_only("<answer>7</answer>").answer == "7"
    assert answer_only("   ").answer is None


# ---- format ------------------------------------------------------------------------------------

GOOD = [
    "<think>reasoning</think><answer>B</answer>",
    "<think>a\nb</think>\n<answer>\nB\n</answer>\n",
    "  <think>x</think>  <answer>B</answer>  ",
    "<think></think><answer>B</answer>",  # WeThink does not require non-empty reasoning
    "reasoning</think><answer>B</answer>",  # pre-filled <think>
]
BAD = {
    "no tags": "The answer is B.",
    "no think": "<answer>B</answer>",
    "no answer": "<think>x</think>",
    "two answers": "<think>x</think><answer>B</answer><answer>C</answer>",
    "two thinks": "<think>x</think><think>y</think><answer>B</answer>",
    "answer inside think": "<think>x <answer>B</answer></think>",
    "answer first": "<answer>B</answer><think>x</think>",
    "text before": "Sure! <think>x</think><answer>B</answer>",
    "text between": "<think>x</think> so: <answer>B</answer>",
    "text after": "<think>x</think><answer>B</answer> Hope this helps!",
    "empty answer": "<think>x</think><answer>  </answer>",
    "unclosed answer": "<think>x</think><answer>B",
    "unclosed think": "<think>x<answer>B</answer>",
    "empty": "",
}


@pytest.mark.parametrize("response", GOOD)
def test_format_good(response):
    v = check_format(response)
    assert v.score == 1.0, v


@pytest.mark.parametrize("name", list(BAD))
def test_format_bad(name):
    v = check_format(BAD[name])
    assert v.score == 0.0 and v.reason, (name, v)


def test_format_options():
    prefilled = "reasoning</think><answer>B</answer>"
    assert check_format(prefilled, think_prefilled=False).score == 0.0
    assert check_format(prefilled, think_prefilled=True).score == 1.0
    assert check_format("<think>x</think><answer>B</answer>", think_prefilled=True).score == 0.0  # two <think>
    assert check_format("<think>ab</think><answer>B</answer>", min_think_chars=5).score == 0.0
    assert check_format("<think>abcdef</think><answer>B</answer>", min_think_chars=5).score == 1.0
    too_long = "<think>" + "a" * 200 + "</think><answer>B</answer>"
    v = check_format(too_long, max_chars=100)
    assert v.score == 0.0 and "too long" in v.reason


def test_format_is_a_registered_verifier_reading_the_response():
    spec = get_verifier("format")
    assert spec.reads == "response"
    assert spec.fn("<think>x</think><answer>B</answer>", None).score == 1.0


# ---- linear time on regex-blowup inputs -----------------------------------------------------------

BLOWUPS = {
    "think_close_boxed": "</think>\\boxed{" * 50_000,
    "think_open_spam": "<think>" * 50_000,
    "answer_open_spam": "<think>x</think>" + "<answer>" * 12_000,
    "answer_close_spam": "<think>x</think>" + "</answer>" * 11_000,
    "boxed_spam": "<think>x</think><answer>" + "\\boxed{" * 14_000 + "</answer>",
    "braces": "<think>x</think><answer>" + "{" * 99_000 + "</answer>",
    "backslashes": "<think>x</think><answer>" + "\\" * 99_000 + "</answer>",
    "thousands_of_boxed": "<think>x</think>" + "\\boxed{1}" * 10_000,
    "long_think": "<think>" + "word " * 19_000 + "</think><answer>B</answer>",
}


@pytest.mark.parametrize("name", list(BLOWUPS))
def test_extraction_and_format_are_fast_on_blowup_patterns(name):
    text = BLOWUPS[name]
    t = time.perf_counter()
    extract_answer(text)
    check_format(text)
    assert time.perf_counter() - t < 0.25, name  # peers' backtracking regexes take 40-95 s here


def test_linear_scaling():
    """Doubling the input roughly doubles the work (no quadratic scan)."""

    def cost(n: int) -> float:
        text = "<think>" + "</think>\\boxed{" * n + "</think><answer>B</answer>"
        best = 1e9
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(20):
                extract_answer(text, max_chars=10**9)
                check_format(text, max_chars=10**9)
            best = min(best, time.perf_counter() - t)
        return best

    small, big = cost(20_000), cost(80_000)
    assert big < small * 4 * 3, (small, big)  # 4x input: well under the 16x of a quadratic scan
