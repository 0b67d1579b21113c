"""The real `wethink-verl score` CLI, in a subprocess, on the bundled example rollouts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "rollouts.jsonl"
CLI = str(Path(sys.executable).parent / "wethink-verl")
OUTPUT_FIELDS = ("score", "accuracy", "format", "verifier", "error")


def run_cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([CLI, "score", *args], capture_output=True, text=True, timeout=timeout, env=env, **kw)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("score") / "out.jsonl"
    proc = run_cli("--input", str(EXAMPLES), "--output", str(out))
    return proc, read_jsonl(out)


def test_every_example_matches_its_expect_label(example_run):
    proc, rows = example_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    n_input = sum(1 for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(rows) == n_input, "one output line per input line, in order"
    checked = 0
    for row in rows:
        for field in OUTPUT_FIELDS:
            assert field in row, (row.get("id"), field)
        expect = row.get("expect")
        if expect is None:
            continue  # the line that is not JSON
        if expect["accuracy"] is not None:
            assert row["accuracy"] == pytest.approx(expect["accuracy"], abs=1e-3), (row["id"], row["note"], row)
            checked += 1
        if expect["format"] is not None:
            assert row["format"] == expect["format"], (row["id"], row["note"], row)
        if expect["accuracy"] is None and expect["format"] is None:
            assert row["error"], (row["id"], "a bad line carries an error")
        elif expect["accuracy"] is not None:
            # a line with a definite expectation was scored, not errored (the power tower's timeout excepted)
            assert row["error"] is None or "math-verify" in row["error"], (row["id"], row["error"])
        assert row["score"] == pytest.approx(
            0.7 * row["accuracy"] + 0.3 * row["format"], abs=1e-6
        ) or row["error"], row["id"]
    assert checked >= 35


def test_input_fields_are_kept(example_run):
    _, rows = example_run
    first = rows[0]
    assert first["id"] == "ex01" and first["note"] and first["expect"] and first["problem"]


def test_bad_lines_carry_an_error_and_never_stop_the_run(example_run):
    proc, rows = example_run
    by_id = {r.get("id"): r for r in rows}
    assert "verifier_kwargs" in by_id["ex40"]["error"]
    assert "no_such_verifier" in by_id["ex41"]["error"]
    not_json = rows[-1]
    assert not_json["error"].startswith("line 42: invalid JSON") and not_json["score"] == 0.0
    assert "42 lines read: 42 scored, 4 with errors" in proc.stdout


def test_summary_table_is_printed(example_run):
    proc, _ = example_run
    out = proc.stdout
    assert "Scores by verifier and category" in out
    header = next(line for line in out.splitlines() if line.startswith("verifier"))
    for column in ("category", "n", "score", "accuracy", "format", "errors", "fallbacks"):
        assert column in header
    for verifier in ("choice", "number", "math", "text", "yesno", "iou", "format", "judge>text"):
        assert any(line.startswith(verifier + " ") for line in out.splitlines()), verifier
    assert "scoring" in proc.stderr  # the progress bar


def test_strict_exit_status(tmp_path):
    out = tmp_path / "o.jsonl"
    assert run_cli("--input", str(EXAMPLES), "--output", str(out), "--strict", "--quiet").returncode == 1
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps({"response": "<think>x</think><answer>B</answer>", "answer": "B", "verifier": "choice"}) + "\n")
    assert run_cli("--input", str(clean), "--output", str(out), "--strict", "--quiet").returncode == 0
    assert run_cli("--input", str(EXAMPLES), "--output", str(out), "--quiet").returncode == 0


def test_answer_only(tmp_path):
    rows = [
        {"response": "B", "answer": "B", "verifier": "choice"},
        {"response": "(B) rabbit", "answer": "B", "verifier": "choice"},
        {"response": "\\boxed{42}", "answer": "42", "verifier": "number"},
        {"response": "There are 3 apples.", "answer": "3"},
        {"response": "x^2+2x+1", "answer": "(x+1)^2", "verifier": "math"},
        {"response": "A", "answer": "B", "verifier": "choice"},
        {"response": "<think>x</think><answer>B</answer>", "answer": "B", "verifier": "choice"},
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_cli("--input", str(inp), "--output", str(out), "--answer-only", "--quiet")
    assert proc.returncode == 0, proc.stderr
    got = read_jsonl(out)
    assert [r["accuracy"] for r in got] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    assert all(r["format"] is None for r in got), "no format term with --answer-only"
    assert [r["score"] for r in got] == [r["accuracy"] for r in got]


def test_verifier_kwargs_per_line(tmp_path):
    rows = [
        {"response": "<think>x</think><answer>dog</answer>", "answer": "B", "verifier": "choice", "verifier_kwargs": {"choices": {"A": "cat", "B": "dog"}}},
        {"response": "<think>x</think><answer>3.2</answer>", "answer": "3.14159", "verifier": "number", "verifier_kwargs": {"rel_tol": 0.05}},
        {"response": "<think>x</think><answer>3.2</answer>", "answer": "3.14159", "verifier": "number"},
        {"response": "<think>x</think><answer>[60, 30, 160, 160]</answer>", "answer": "[10, 30, 110, 160]", "verifier": "iou", "verifier_kwargs": {"iou_threshold": None}},
        {"response": "<think>x</think><answer>anything</answer>"},  # no answer: format-only
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_cli("--input", str(inp), "--output", str(out), "--quiet").returncode == 0
    got = read_jsonl(out)
    assert [r["accuracy"] for r in got[:3]] == [1.0, 1.0, 0.0]
    assert got[3]["accuracy"] == pytest.approx(1 / 3, abs=1e-6)
    assert got[4]["verifier"] == "format" and got[4]["score"] == 1.0


def test_stdout_output_is_pure_jsonl_and_bad_bytes_are_a_line_error(tmp_path):
    # regressions: the "unmapped routing values" note went to stdout (into the JSONL), and one
    # undecodable line crashed the whole run
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(
        b'{"response": "<think>x</think><answer>B</answer>", "answer": "B", "category": "Weird-Category"}\n'
        b"\xff\xfe not utf-8\n"
        b'{"response": "<think>x</think><answer>3</answer>", "answer": "3"}\n'
    )
    proc = run_cli("--input", str(inp), "--output", "-", "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 3
    assert lines[0]["accuracy"] == 1.0 and lines[2]["accuracy"] == 1.0
    assert "invalid UTF-8" in lines[1]["error"]
    assert "unmapped routing values: category=Weird-Category (1)" in proc.stderr
    assert "Scores by verifier and category" in proc.stderr


def test_missing_input_is_a_clean_error(tmp_path):
    proc = run_cli("--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "input file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_output_is_written_atomically(tmp_path):
    """While a run is in progress (and if it is killed) OUT keeps its previous content; a finished
    run replaces it whole; no .partial file is left."""
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    slow = [{"response": f"<think>x</think><answer>(x+{i})^{{5000}}</answer>", "answer": f"(x+{i + 1})^{{5000}}", "verifier": "math"} for i in range(6)]
    rows = slow + [{"response": "<think>x</think><answer>B</answer>", "answer": "B"}]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))

    proc = subprocess.Popen([CLI, "score", "--input", str(inp), "--output", str(out), "--workers", "1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        partial = tmp_path / "out.jsonl.partial"
        deadline = time.monotonic() + 60
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert partial.exists(), "scoring writes to a side file"
        assert out.read_text() == "previous\n", "OUT untouched while scoring"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert out.read_text() == "previous\n", "a killed run leaves the previous output"

    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps(rows[-1]) + "\n")
    assert run_cli("--input", str(small), "--output", str(out), "--quiet").returncode == 0
    assert [r["accuracy"] for r in read_jsonl(out)] == [1.0]
    assert not (tmp_path / "out.jsonl.partial").exists()


# ---- issue 12: nothing lost, every mistake named ----------------------------------------------
GOOD = {"response": "<think>x</think><answer>B</answer>", "answer": "B", "verifier": "choice"}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_lone_surrogate_is_that_lines_error_and_every_other_line_is_written(tmp_path):
    inp = _write(tmp_path / "in.jsonl", [json.dumps(GOOD), '{"response": "<think>x</think><answer>\\ud800</answer>", "answer": "B"}',
                                         json.dumps(GOOD)])  # fmt: skip
    for output in (str(tmp_path / "out.jsonl"), "-"):
        proc = run_cli("--input", str(inp), "--output", output, "--quiet")
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout if output == "-" else (tmp_path / "out.jsonl").read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines()]
        assert len(rows) == 3 and rows[0]["score"] == rows[2]["score"] == 1.0
        assert rows[1]["score"] == 0.0 and "surrogate" in rows[1]["error"] and rows[1]["error"].startswith("line 2")
        assert "Traceback" not in proc.stderr


def test_every_input_line_is_counted_and_output_stays_one_line_per_record(tmp_path):
    weird = dict(GOOD, problem="a\u2028b\u2029c\x85d\x1ce\x0bf", id="weird")
    inp = _write(tmp_path / "in.jsonl", [json.dumps(GOOD), "   ", json.dumps(weird, ensure_ascii=False), "", "\t", "\u2028", json.dumps(GOOD)])
    out = tmp_path / "out.jsonl"
    proc = run_cli("--input", str(inp), "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    raw = out.read_bytes()
    text = raw.decode("utf-8")
    # one line per non-blank input line under every common reader: str.splitlines, bytes lines, io readline
    assert len(text.splitlines()) == len(raw.splitlines()) == len(out.open(encoding="utf-8").readlines()) == 4
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows[1]["id"] == "weird" and rows[1]["problem"] == weird["problem"]  # escaped, not lost
    assert "invalid JSON" in rows[2]["error"] and rows[2]["error"].startswith("line 6")  # U+2028 alone is no blank line
    assert "7 lines read: 4 scored, 1 with errors, 3 blank" in proc.stdout


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "sigint"])
def test_signals_clean_up_and_exit_without_traceback(tmp_path, sig, status):
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    slow = [{"response": f"<think>x</think><answer>(x+{i})^{{5000}}</answer>", "answer": f"(x+{i + 1})^{{5000}}", "verifier": "math"} for i in range(40)]
    inp = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in slow])
    # a new session, signalled as a whole, is what a terminal's Ctrl-C does (workers get it too)
    proc = subprocess.Popen([CLI, "score", "--input", str(inp), "--output", str(out), "--workers", "1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        partial = tmp_path / "out.jsonl.partial"
        deadline = time.monotonic() + 120
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert partial.exists()
        time.sleep(0.5)
        os.killpg(proc.pid, sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert not partial.exists() and out.read_text() == "previous\n"


def test_missing_ground_truth_field_is_warned_per_line_and_per_run(tmp_path):
    rows = [dict(GOOD), {"response": GOOD["response"], "gt": "B"}, {"response": GOOD["response"], "solution": "C"},
            {"response": GOOD["response"], "verifier": "format"}]  # fmt: skip
    inp, out = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in rows]), tmp_path / "out.jsonl"
    proc = run_cli("--input", str(inp), "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    got = read_jsonl(out)
    assert got[0]["warning"] is None and got[3]["warning"] is None  # an explicit format-only line is no mistake
    assert "no 'answer'" in got[1]["warning"] and "'gt'" in got[1]["warning"]
    assert "no 'answer'" in got[2]["warning"] and "'solution'" in got[2]["warning"]
    assert proc.stderr.count("warning:") == 1 and "2 of 4 lines have no 'answer' field" in proc.stderr


@pytest.mark.parametrize(
    "flags, message",
    [
        (("--set", "nosuchkey=1"), "nosuchkey: unknown key"),
        (("--set", "judge.timout_s=5"), "did you mean 'judge.timeout_s'"),
        (("--set", "accuracy_weight=-1"), "accuracy_weight: must be >= 0"),
        (("--set", "bounded.workers=two"), "bounded.workers: must be an integer"),
        (("--timeout", "0"), "bounded.timeout_s: must be > 0"),
        (("--timeout", "-1"), "bounded.timeout_s: must be > 0"),
        (("--workers", "-3"), "bounded.workers: must be >= 1"),
        (("--concurrency", "0"), "--concurrency"),
        (("--judge-timeout", "-5"), "judge.timeout_s: must be > 0"),
        (("--judge-fallback", "bogus"), "judge.fallback: unknown verifier 'bogus'"),
        (("--judge-concurrency", "0"), "judge.concurrency: must be >= 1"),
        (("--set", "verifiers.nmber.rel_tol=0.1"), "did you mean 'number'"),
        (("--set", "routing.category.ocr=txt"), "unknown verifier 'txt'"),
    ],
)
def test_bad_config_is_one_line_exit_2_before_scoring(tmp_path, flags, message):
    inp, out = _write(tmp_path / "in.jsonl", [json.dumps(GOOD)]), tmp_path / "out.jsonl"
    proc = run_cli("--input", str(inp), "--output", str(out), "--quiet", *flags)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "out.jsonl.partial").exists()


def test_weights_are_a_choice_and_the_reward_range_is_printed(tmp_path):
    inp, out = _write(tmp_path / "in.jsonl", [json.dumps(GOOD)]), tmp_path / "out.jsonl"
    proc = run_cli("--input", str(inp), "--output", str(out), "--quiet", "--set", "accuracy_weight=5")
    assert proc.returncode == 0, proc.stderr
    assert read_jsonl(out)[0]["score"] == pytest.approx(5.3)
    assert "in [0, 5.3]" in proc.stdout
    proc = run_cli("--input", str(inp), "--output", str(out), "--quiet")
    assert "reward = 0.7·accuracy + 0.3·format, in [0, 1]" in proc.stdout


def test_file_mistakes_are_one_line_errors_checked_before_scoring(tmp_path):
    inp = _write(tmp_path / "in.jsonl", [json.dumps(GOOD)])
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("judge: [unclosed\n")
    (tmp_path / "adir").mkdir()
    cases = [
        (("--input", str(inp), "--output", str(tmp_path / "o.jsonl"), "--config", str(tmp_path / "nope.yaml")), "config file not found"),
        (("--input", str(inp), "--output", str(tmp_path / "o.jsonl"), "--config", str(bad_yaml)), "not valid YAML"),
        (("--input", str(inp), "--output", str(tmp_path / "o.jsonl"), "--config", str(tmp_path / "adir")), "is a directory"),
        (("--input", str(inp), "--output", str(tmp_path / "adir")), "is a directory"),
        (("--input", str(inp), "--output", str(tmp_path / "missing" / "o.jsonl")), "does not exist"),
        (("--input", str(tmp_path / "adir"), "--output", str(tmp_path / "o.jsonl")), "is a directory"),
    ]
    for args, message in cases:
        proc = run_cli(*args, "--quiet")
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "o.jsonl").exists()
