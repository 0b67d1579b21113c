"""``wethink-verl score --judge-url`` and ``wethink-verl judge check`` against ScriptedJudgeServer,
a test double of a judge model (a real OpenAI-protocol HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json

import pytest

from wethink_verl.cli import main
from wethink_verl.judge.testing import ScriptedJudgeServer, free_port

ROWS = [
    {"response": "<think>look</think><answer>A grey cat sleeping on a red sofa.</answer>", "answer": "A grey cat on a sofa.",
     "category": "descriptive", "problem": "Describe the image. [[script: score=1]]"},
    {"response": "<think>look</think><answer>A grey cat sleeping on a red sofa.</answer>", "answer": "A grey cat on a sofa.",
     "category": "descriptive", "problem": "Describe the image. [[script: score=1]]"},  # a repeat: deduped
    {"response": "<think>look</think><answer>A dog.</answer>", "answer": "A grey cat on a sofa.",
     "category": "descriptive", "problem": "Describe it. [[script: score=0]]"},
    {"response": "<think>look</think><answer>Some text.</answer>", "answer": "Some text.",
     "category": "descriptive", "problem": "Read it. [[script: garbage]]"},
    {"response": "<think>easy</think><answer>B</answer>", "answer": "B", "category": "multiple choice", "problem": "Pick one."},
]  # fmt: skip


@pytest.fixture(scope="module")
def server():
    with ScriptedJudgeServer() as srv:
        yield srv


def _score(tmp_path, capsys, *flags):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    status = main(["score", "--input", str(src), "--output", str(dst), "--quiet", *flags])
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    return status, out, capsys.readouterr().out


def test_score_cli_with_scripted_judge_server(server, tmp_path, capsys):
    before = server.requests
    status, out, printed = _score(tmp_path, capsys, "--judge-url", server.url, "--judge-model", "scripted-judge", "--judge-timeout", "5")
    assert status == 0
    assert [r["verifier"] for r in out] == ["judge", "judge", "judge", "judge>text", "choice"]
    assert [r["accuracy"] for r in out][:3] == [1.0, 1.0, 0.0]
    assert out[3]["accuracy"] == 1.0 and "judge failed (unparseable" in out[3]["reason"]  # fell back to text, said why
    assert all(r["error"] is None for r in out)
    assert server.requests - before == 1 + 1 + 2  # the repeat deduped; garbage retried once
    assert "judge (" in printed and "4 items" in printed and "1 failed (unparseable 1" in printed and "dedupe hits 25%" in printed


def test_score_cli_unreachable_judge_falls_back_and_counts(tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    status, out, printed = _score(tmp_path, capsys, "--judge-url", dead, "--judge-fallback", "zero",
                                  "--set", "judge.max_retries=0", "--set", "judge.backoff_s=0.01")  # fmt: skip
    assert status == 0  # a dead judge never stops the run
    assert [r["verifier"] for r in out][:4] == ["judge>zero"] * 4 and [r["accuracy"] for r in out][:4] == [0.0] * 4
    assert out[4]["verifier"] == "choice" and out[4]["accuracy"] == 1.0
    assert "4 failed (connection" in printed


def test_score_cli_without_judge_flags_keeps_the_contract(tmp_path, capsys):
    status, out, _ = _score(tmp_path, capsys)
    assert status == 0 and [r["verifier"] for r in out][:4] == ["judge>text"] * 4


def test_score_cli_missing_api_key_variable_is_a_clear_error(server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_JUDGE_KEY", raising=False)
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n")
    status = main(["score", "--input", str(src), "--output", str(dst), "--judge-url", server.url, "--judge-api-key-env", "NO_SUCH_JUDGE_KEY"])
    assert status == 2 and "NO_SUCH_JUDGE_KEY" in capsys.readouterr().err and not dst.exists()  # checked before scoring


def test_judge_check_cli(server, capsys):
    assert main(["judge", "check", server.url]) == 0
    printed = capsys.readouterr().out
    assert "verdict:  1" in printed and "latency:" in printed and server.url in printed
    assert main(["judge", "check", server.url, "--question", "q [[script: garbage]]", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "unparseable" and report["exit_status"] == 3 and report["latency_ms"] > 0
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["judge", "check", dead, "--retries", "0"]) == 2
    assert "verdict:  none (connection)" in capsys.readouterr().out
    assert main(["judge", "check"]) == 2
