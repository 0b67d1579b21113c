"""``wethink-verl report`` through its CLI (a subprocess) on dumps written by verl's own
``RayPPOTrainer._log_rollout_data`` / ``_write_generations`` from rows our ``wethink`` manager
scored, on ``wethink-verl score`` output and on EasyR1's metrics log; plus the streaming pieces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("verl")

from report_runs import HOSTILE, write_easyr1_log, write_run  # noqa: E402

from wethink_verl.report.aggregate import KEEP, REASONS, Aggregate, find_jumps  # noqa: E402
from wethink_verl.report.read import read_all  # noqa: E402
from wethink_verl.report.sources import discover  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "rollouts.jsonl"


def report(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wethink_verl.cli", "report", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir)


@pytest.fixture(scope="module")
def verl_run(tokenizer, tmp_path_factory):
    return write_run(tokenizer, tmp_path_factory.mktemp("run"), steps=8, hack_from=6)


@pytest.fixture(scope="module")
def verl_report(verl_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = report(str(verl_run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, out, json.loads((out / "summary.json").read_text())


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: Counter = Counter()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attrs += attrs


def test_verl_dumps_every_step_split_and_verifier(verl_report):
    proc, out, summary = verl_report
    assert "1 step jump flagged" in proc.stdout and "report.html" in proc.stdout
    series = summary["series"]
    assert set(series) == {"rollouts", "validation"}
    assert series["rollouts"]["steps"] == list(range(1, 9)) and series["validation"]["steps"] == [4, 8]
    assert summary["rows"] == sum(series["rollouts"]["rows"]) + sum(series["validation"]["rows"])
    assert {"choice", "number", "math", "iou", "yesno", "text", "format"} <= set(series["rollouts"]["by_verifier"])
    assert {"multiple choice", "fill-in-the-blank", "descriptive"} <= set(series["rollouts"]["by_category"])
    # the hack starts at step 6: accuracy of multiple choice falls, hedges jump, and that step is flagged
    mc = series["rollouts"]["by_category"]["multiple choice"]["accuracy"]
    assert mc[4] > 0.4 and mc[5] < 0.1
    assert [(j["split"], j["series"], j["step"]) for j in summary["jumps"]] == [("rollouts", "hedged", 6)]
    assert summary["notes"] == []  # every key was in the dumps: nothing recomputed
    for name in ("reward", "by_verifier", "by_category", "judge", "hacking"):
        assert (out / summary["charts"][name]).stat().st_size > 5_000


def test_samples_per_verifier(verl_report):
    _, _, summary = verl_report
    choice = summary["samples"]["choice"]
    assert len(choice["highest"]) == KEEP and choice["highest"][0]["score"] == 1.0
    assert choice["lowest"][0]["score"] == 0.0 and choice["lowest"][0]["status"] == "no_answer"
    top = choice["top_reasons"][0]
    assert top["reason"] == "hedged between options B, C" and top["examples"][0]["response"].endswith("<answer>B or C</answer>")
    for verifier, s in summary["samples"].items():
        assert s["highest"] and s["lowest"], verifier
        assert len({x["response"] for x in s["highest"]}) == len(s["highest"])  # distinct responses


def test_html_is_self_contained_and_escapes_hostile_text(verl_report):
    _, out, summary = verl_report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert any(HOSTILE in x["response"] for s in summary["samples"].values() for x in s["highest"] + s["lowest"])
    parser = _Tags()
    parser.feed(page)
    assert parser.tags["script"] == 1 and parser.tags["style"] == 1  # ours only
    assert parser.tags["img"] == 5 and parser.tags["b"] == 0
    assert not any(name.startswith("on") for name, _ in parser.attrs)
    assert all(value.startswith("data:image/png;base64,") for name, value in parser.attrs if name == "src")
    assert "&lt;script&gt;document.title=&quot;PWNED&quot;&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from anywhere


def test_v1_training_dumps_without_reward_extra_info(tokenizer, tmp_path):
    """verl 0.9.1's V1 trainer dumps training rollouts with uid only: the report still reads them,
    recomputes format and no-answer from the text, and says what it cannot show."""
    run = write_run(tokenizer, tmp_path / "run", steps=4, hack_from=3, extra_info=False, validation=False)
    proc = report(str(run), "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    s = summary["series"]["rollouts"]
    assert s["by_verifier"] == {} and s["values"]["hedged"] == [None] * 4
    assert s["values"]["format"][0] is not None and s["values"]["no_answer"][3] > s["values"]["no_answer"][0]
    assert any("V1 trainer" in n for n in summary["notes"]) and any("Recomputed" in n for n in summary["notes"])
    assert summary["charts"]["by_verifier"] is None and "note: " in proc.stdout


def test_score_output(tmp_path):
    scored = tmp_path / "scored.jsonl"
    proc = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "score", "--input", str(EXAMPLES), "--output", str(scored), "--quiet"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = report(str(scored), "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    lines = sum(1 for line in scored.read_text().splitlines() if line.strip())
    assert summary["rows"] == lines and set(summary["series"]) == {"scored"}
    s = summary["series"]["scored"]
    assert s["steps"] == [0] and {"choice", "math", "iou"} <= set(s["by_verifier"])
    assert s["values"]["error"][0] > 0  # the examples' bad lines are counted errors, not dropped


def test_easyr1_metrics_log(tmp_path):
    log = write_easyr1_log(tmp_path / "checkpoints" / "wethink" / "experiment_log.jsonl")
    proc = report(str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "wethink_report" / "summary.json").read_text())
    s = summary["series"][f"EasyR1 metrics: {log.stem}"]
    assert s["steps"] == list(range(1, 7)) and s["values"]["accuracy"][0] == pytest.approx(0.3)
    assert s["values"]["judge_used"] == [0.25] * 6 and s["values"]["length_tokens_mean"][-1] == 106.0


def test_mixed_run_dir_and_bad_lines(verl_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(verl_run, run)
    with open(run / "rollouts" / "3.jsonl", "a", encoding="utf-8") as f:
        f.write('{"truncated": \n[1, 2]\n')
    (run / "notes.jsonl").write_text('{"hello": "world"}\n')
    shutil.copytree(verl_run / "validation", run / "second_run" / "validation")  # same name, another run
    write_easyr1_log(run / "experiment_log.jsonl")
    proc = report(str(run), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run / "wethink_report" / "summary.json").read_text())
    assert summary["bad_lines"] == 2 and any("2 lines were not JSON objects" in n for n in summary["notes"])
    assert [s["path"] for s in summary["skipped"]] == [str(run / "notes.jsonl")]
    assert {"rollouts", "validation", "second_run/validation", "EasyR1 metrics: experiment_log"} == set(summary["series"])


def test_nothing_to_report(tmp_path):
    proc = report(str(tmp_path / "missing"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = report(str(tmp_path / "empty"))
    assert proc.returncode == 3 and "nothing to report" in proc.stderr and "rollout_data_dir" in proc.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.jsonl").write_text('{"a": 1}\n')
    proc = report(str(tmp_path / "other"))
    assert proc.returncode == 3 and "skipped" in proc.stderr and "x.jsonl" in proc.stderr


def test_progress_bar(verl_run, tmp_path):
    proc = report(str(verl_run), "--out", str(tmp_path))
    assert proc.returncode == 0 and "reading" in proc.stderr and "100%" in proc.stderr


def test_parallel_and_sequential_reads_agree(verl_run):
    sources = discover(verl_run).sources
    one, _ = read_all(sources, workers=1, quiet=True)
    two, _ = read_all(sources, workers=2, quiet=True)
    assert one.series() == two.series()
    assert {k: v.summary()["failures"] for k, v in one.samples.items()} == {k: v.summary()["failures"] for k, v in two.samples.items()}


def _row(i: int, reason: str) -> dict:
    return {"step": i % 3, "score": (i % 7) / 7, "accuracy": 0.0, "format": 1.0, "verifier": "v", "category": "c", "route": "r",
            "status": "ok", "reason": reason, "response": "x" * (i % 5000), "gts": "g", "error": 0.0, "no_answer": 0.0,
            "hedged": 0.0, "format_failure": 0.0, "judge_used": 0.0, "judge_failed": 0.0, "fallback": 0.0, "judge_rescued": None,
            "timed_out": 0.0}  # fmt: skip


def test_memory_stays_bounded_in_rows():
    """Many rows with many distinct reasons: what is kept per verifier does not grow with them."""
    agg = Aggregate()
    for i in range(20_000):
        word = "".join(chr(97 + (i % 997) // 26**k % 26) for k in range(3))  # 997 distinct words (numbers are blanked)
        agg.add_row(_row(i, f"mismatch of kind {word}"), "s")
    keeper = agg.samples["v"]
    assert len(keeper.reasons) == REASONS and keeper.other_reasons > 0
    assert all(len(v) <= 2 for v in keeper.examples.values()) and len(keeper.high) == KEEP
    assert all(len(x[2]["response"]) <= 4100 for x in keeper.high)
    assert sum(st.n for st in agg.steps["s"].values()) == 20_000 and len(agg.steps["s"]) == 3


def test_reason_key_blanks_row_specific_text():
    agg = Aggregate()
    for i in range(50):
        agg.add_row(_row(i, f"letter '{chr(65 + i % 4)}' != 'B' at {i}"), "s")
    assert list(agg.samples["v"].reasons) == ["letter … != … at …"]


@pytest.mark.parametrize(
    "values,rows,expect",
    [
        ([0.1] * 6 + [0.4] * 6, [2560] * 12, [6]),  # a new level: flagged once, where it starts
        ([0.1, 0.12, 0.09, 0.11, 0.1, 0.13, 0.08, 0.1], [2560] * 8, []),  # noise
        ([0.1] * 5 + [0.2] + [0.1] * 3, [40] * 9, []),  # 0.1 -> 0.2 on 40 rows is within sampling noise
        ([0.1] * 5 + [0.2] + [0.1] * 3, [5000] * 9, [5]),  # ... on 5000 rows it is not
    ],
)
def test_find_jumps(values, rows, expect):
    steps = list(range(len(values)))
    assert [j["step"] for j in find_jumps(steps, values, 0.05, rows)] == expect


def test_find_jumps_lengths_are_relative():
    lengths = [400, 410, 395, 405, 400, 700, 720, 710]
    assert [j["step"] for j in find_jumps(list(range(8)), lengths, None)] == [5]
    assert find_jumps(list(range(8)), [400, 410, 395, 405, 400, 440, 430, 420], None) == []
