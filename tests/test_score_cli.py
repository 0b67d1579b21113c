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
    assert "42 lines scored, 4 with errors" in proc.stdout


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
