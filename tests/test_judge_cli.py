"""``wethink-verl score --judge-url`` and ``wethink-verl judge check`` against ScriptedJudgeServer,
a test double of a judge model (a real OpenAI-protocol HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wethink_verl.cli import main
from wethink_verl.testing.judge_servers import ScriptedJudgeServer
from wethink_verl.testing.ports import free_port

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
    assert [r["verifier"] for r in out] == ["judge", "judge", "judge", "judge>zero", "choice"]
    assert [r["accuracy"] for r in out][:3] == [1.0, 1.0, 0.0]
    # a reply without a verdict scores 0, never the fallback (the candidate can cause it), said why
    assert out[3]["accuracy"] == 0.0 and "judge failed (unparseable" in out[3]["reason"]
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


# ---- issue 12: serve checks the model first, stop has a deadline and stops only ours -------------
import subprocess  # noqa: E402
import sys  # noqa: E402


def _cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wethink_verl.cli", *args], capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.parametrize("model", ["/no/such/path", "./missing-model", "a/b/c", "~/nope/"])
def test_judge_serve_checks_a_local_model_path_before_starting_ray(model):
    r = _cli("judge", "serve", "--model", model)
    assert r.returncode == 2 and "no such directory" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Ray" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_judge_serve_refuses_a_directory_without_a_model(tmp_path):
    r = _cli("judge", "serve", "--model", str(tmp_path))
    assert r.returncode == 2 and "no config.json" in r.stderr


def test_judge_stop_with_no_cluster_at_the_address_says_so_at_once():
    r = _cli("judge", "stop", "--address", f"127.0.0.1:{free_port()}", timeout=60)
    assert r.returncode == 2 and "no Ray cluster at 127.0.0.1" in r.stderr and "Traceback" not in r.stderr


def test_judge_stop_gives_up_on_a_port_that_is_no_ray_cluster(server):
    """Something listens there (an HTTP server), but it never speaks Ray: --timeout bounds the wait."""
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    r = _cli("judge", "stop", "--address", f"127.0.0.1:{port}", "--timeout", "5", timeout=120)
    assert r.returncode == 2 and "no Ray cluster answered within 5 s" in r.stderr, r.stderr[-2000:]


def test_judge_flags_go_through_the_config_schema(server, tmp_path):
    r = _cli("judge", "check", server.url, "--timeout", "-1")
    assert r.returncode == 2 and "judge.timeout_s: must be > 0" in r.stderr
    (tmp_path / "config.json").write_text("{}")
    r = _cli("judge", "serve", "--model", str(tmp_path), "--max-batch-size", "0")  # refused before Ray starts
    assert r.returncode == 2 and "judge.ray.max_batch_size: must be >= 1" in r.stderr and "Ray" not in r.stderr


@pytest.mark.slow
def test_judge_stop_reports_the_cluster_and_leaves_other_actors_alone(ray_local, tmp_path):
    address = ray_local.get_runtime_context().gcs_address
    env = dict(os.environ, RAY_ADDRESS=address)
    r = _cli("judge", "stop", "--namespace", "wethink_stop_test", env=env, timeout=300)  # --address auto: from RAY_ADDRESS
    assert r.returncode == 1, r.stderr[-2000:]
    assert f"Ray cluster at {address} (from RAY_ADDRESS)" in r.stdout and "no judge service wethink_stop_test/wethink_judge" in r.stderr

    @ray_local.remote
    class Impostor:
        def info(self):
            return {}

    other = Impostor.options(name="wethink_judge", namespace="wethink_stop_test", lifetime="detached").remote()
    try:
        ray_local.get(other.info.remote(), timeout=60)
        r = _cli("judge", "stop", "--namespace", "wethink_stop_test", "--address", address, timeout=300)
        assert r.returncode == 1 and ".Impostor, not wethink_verl.judge.service.JudgeService: left alone" in r.stderr, r.stderr[-2000:]
        assert ray_local.get(other.info.remote(), timeout=60) == {}  # still alive
    finally:
        ray_local.kill(other, no_restart=True)
