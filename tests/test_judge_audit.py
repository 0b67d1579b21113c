"""``wethink-verl judge audit`` as a user runs it (the CLI in a subprocess) on WeThink-style data,
JSON lines and the verl parquet ``prepare`` writes, against scripted judges on 127.0.0.1: a perfect
judge (ScriptedJudgeServer's ``oracle`` mode, told the truth of every candidate the audit will
build) passes; a judge that always says 1 fails on precision; an obedient judge (perfect, except
that it does what a candidate tells it) fails on injection. The real vLLM CPU server:
tests/test_judge_vllm.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wethink_verl.cli import judge_audit as audit
from wethink_verl.judge.prompt import neutralize
from wethink_verl.reward import RewardScorer
from wethink_verl.testing.judge_servers import ScriptedJudgeServer
from wethink_verl.testing.ports import free_port

SAMPLES = 24


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from wethink_verl.data.prepare import PrepareConfig, prepare
    from wethink_verl.data.synthetic import write_synthetic_wethink

    root = tmp_path_factory.mktemp("audit")
    records, images = write_synthetic_wethink(root / "wethink", 90, seed=3)
    prepare(PrepareConfig(input=records, image_root=images, output_dir=str(root / "verl"), progress=False, image_check="exists"))
    return {"jsonl": records, "parquet": str(root / "verl" / "train.parquet")}


def oracle(data_path: str, samples: int = SAMPLES, seed: int = 0) -> dict:
    """The truth of every candidate the audit will build for these arguments, keyed as the judge
    prompt shows (reference, candidate)."""
    rules = RewardScorer({})
    rows, _ = audit.draw_rows(audit.load_samples(data_path), rules, samples, seed)
    candidates, _ = audit.build_candidates(rows, rules, seed)
    return {(neutralize(rows[c.row].reference.strip()), neutralize(c.text.strip())): c.truth for c in candidates}


def run_audit(url: str, data_path: str, out, *extra: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    cmd = [sys.executable, "-m", "wethink_verl.cli", "judge", "audit", "--data", data_path, "--judge-url", url,
           "--samples", str(SAMPLES), "--out", str(out), *extra]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    path = out / "audit.json"
    return r, json.loads(path.read_text()) if path.exists() else None


def failed_checks(report: dict) -> list[str]:
    return [c["check"] for c in report["checks"] if not c["passed"]]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_perfect_judge_is_fit(data, tmp_path, fmt):
    with ScriptedJudgeServer(default="oracle", oracle=oracle(data[fmt])) as srv:
        r, report = run_audit(srv.url, data[fmt], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert report["fit"] and failed_checks(report) == [] and "FIT: this judge passed every check" in r.stdout
    assert report["overall"]["agreement"] == report["overall"]["precision"] == report["overall"]["recall"] == 1.0
    assert report["rows"]["drawn"] == SAMPLES and set(report["by_category"]) == {"multiple choice", "fill-in-the-blank"}
    kinds = {k: v["n"] for k, v in report["by_kind"].items()}
    assert kinds["gold"] == SAMPLES and kinds["reworded"] >= SAMPLES and kinds["wrong"] >= SAMPLES
    inj = report["injection"]
    assert inj["probes"] == 2 * SAMPLES and inj["raised"] == 0 and len(inj["by_probe"]) >= 4
    assert report["confusion"]["counts"][0][0] == report["overall"]["tp"] and report["confusion"]["counts"][1][1] > 0
    assert report["latency_ms"]["p50"] > 0 and report["throughput_per_s"] > 0 and report["failures"]["parse_failures"] == 0
    assert (tmp_path / "audit.png").read_bytes()[:4] == b"\x89PNG"
    assert "injection probes: 0 of 48 raised the score" in r.stdout and "latency ms p50" in r.stdout


def test_a_judge_that_always_says_1_fails_on_precision(data, tmp_path):
    with ScriptedJudgeServer(default="score=1") as srv:
        r, report = run_audit(srv.url, data["jsonl"], tmp_path)
    assert r.returncode == 1 and not report["fit"]
    assert f"precision >= {audit.DEFAULT_MIN_AGREEMENT:g}" in failed_checks(report) and report["overall"]["recall"] == 1.0
    assert report["overall"]["precision"] < 0.7 and "NOT FIT: failed" in r.stdout and "precision" in r.stdout.splitlines()[-2]


def test_an_obedient_judge_fails_on_injection(data, tmp_path):
    with ScriptedJudgeServer(default="obey oracle", oracle=oracle(data["jsonl"])) as srv:
        r, report = run_audit(srv.url, data["jsonl"], tmp_path)
    assert r.returncode == 1
    assert failed_checks(report) == ["injection probes that raised a score = 0"]  # everything else is perfect
    assert report["overall"]["agreement"] == 1.0 and report["injection"]["raised"] == report["injection"]["probes"] > 0


def test_min_agreement_and_positive_at_are_the_thresholds(data, tmp_path):
    with ScriptedJudgeServer(default="score=0.5") as srv:  # half credit for everything
        r, report = run_audit(srv.url, data["jsonl"], tmp_path, "--min-agreement", "0.2")
        assert r.returncode == 1 and report["overall"]["recall"] == 0.0  # 0.5 is below --positive-at 1
        r, report = run_audit(srv.url, data["jsonl"], tmp_path, "--min-agreement", "0.2", "--positive-at", "0.5")
    assert r.returncode == 0 and report["overall"]["recall"] == 1.0 and report["fit"]


def test_unusable_inputs_exit_2_with_a_reason(data, tmp_path):
    r, _ = run_audit(f"http://127.0.0.1:{free_port()}/v1", data["jsonl"], tmp_path, "--set", "judge.max_retries=0",
                     "--set", "judge.circuit_breaker.failures=0")  # fmt: skip
    assert r.returncode == 2 and "the judge answered no request" in r.stderr and "connection" in r.stderr
    r, _ = run_audit("http://127.0.0.1:9/v1", str(tmp_path / "missing.parquet"), tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    descriptive = tmp_path / "descriptive.jsonl"
    descriptive.write_text(json.dumps({"problem": "Describe it.", "answer": "A cat.", "category": "descriptive", "reward": "model-based"}) + "\n")
    r, _ = run_audit("http://127.0.0.1:9/v1", str(descriptive), tmp_path)
    assert r.returncode == 2 and "no row a rule verifier can check" in r.stderr
    r, _ = run_audit("http://127.0.0.1:9/v1", data["jsonl"], tmp_path, "--set", "judge.timeout_s=-1")
    assert r.returncode == 2 and "judge.timeout_s" in r.stderr
