"""``wethink-verl prepare`` on a generated WeThink-style dataset: cleaning, the three output
formats, bad rows (named errors and counted skips), staged outputs (nothing half-written after an
error, a SIGTERM or a SIGKILL), overwrite protection, streaming JSON arrays. No verl needed here;
``test_data_dataset.py`` takes the parquet through verl's real RLHFDataset."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from wethink_verl.data.prepare import InputError, OutputExistsError, PrepareConfig, count_records, iter_records, prepare
from wethink_verl.data.readers import _iter_json_array
from wethink_verl.data.schema import (
    BadRowError,
    Reason,
    clean_answer,
    clean_cot,
    escape_media_literals,
    normalize_whitespace,
)
from wethink_verl.data.synthetic import BAD_ROW_KINDS, bad_row_positions, write_synthetic_wethink
from wethink_verl.reward.config import WETHINK_SYSTEM_PROMPT
from wethink_verl.rows import unpack_ground_truth

PYTHON = sys.executable
N = 60


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "wethink_verl.cli", "prepare", *args, "--no-progress"],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def visible(out: Path) -> list[str]:
    """The outputs a reader sees (the set itself lives in hidden entries)."""
    return sorted(n for n in os.listdir(out) if not n.startswith(".") and (out / n).exists())


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory):
    return write_synthetic_wethink(tmp_path_factory.mktemp("clean"), N, seed=1)


@pytest.fixture(scope="module")
def bad_set(tmp_path_factory):
    return write_synthetic_wethink(tmp_path_factory.mktemp("bad"), N, seed=2, bad_rows=True)


def cfg(records, root, out, **kw) -> PrepareConfig:
    return PrepareConfig(input=str(records), image_root=str(root), output_dir=str(out), progress=False, **kw)


# ---- cleaning -----------------------------------------------------------------------------------
def test_cleaning_rules():
    assert clean_answer("<answer> B </answer>") == "B"
    assert clean_answer("<think>long</think><answer>42</answer>") == "42"
    assert clean_answer("  the  </answer>") == "the"
    assert clean_answer("<answer> </answer>") == ""
    assert clean_cot("<think>\nstep 1\n</think>\n<answer>B</answer>") == "step 1"
    assert clean_cot("step 1 </think>") == "step 1"
    assert normalize_whitespace("  a  \r\nb\r\n\r\n\r\n\r\nc \n") == "a\nb\n\nc"
    text, n = escape_media_literals("HTML has <image> and <video>; Qwen prints <|image_pad|>. <img> stays.")
    assert n == 3
    assert text == "HTML has &lt;image&gt; and &lt;video&gt;; Qwen prints &lt;|image_pad|&gt;. <img> stays."
    assert escape_media_literals(text) == (text, 0)  # idempotent


# ---- verl through the real CLI ------------------------------------------------------------------
def test_prepare_verl_cli(clean_set, tmp_path):
    records, root = clean_set
    before = sha(records)
    out = tmp_path / "verl"
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "verl", "--val-size", "6")
    assert proc.returncode == 0, proc.stderr
    assert "rows per category" in proc.stdout and "rows per reward type" in proc.stdout and "rows per ability" in proc.stdout
    assert visible(out) == ["prepare_summary.json", "prepare_summary.txt", "train.parquet", "val.parquet"]
    hidden = sorted(n for n in os.listdir(out) if n.startswith("."))  # the published set and the link to it
    assert len(hidden) == 2 and ".wethink-prepare-current" in hidden and any(n.endswith(".set") for n in hidden)
    assert sha(records) == before  # the input is never modified

    train, val = pq.read_table(out / "train.parquet").to_pylist(), pq.read_table(out / "val.parquet").to_pylist()
    assert len(train) == N - 6 and len(val) == 6
    assert {r["extra_info"]["split"] for r in train} == {"train"} and {r["extra_info"]["split"] for r in val} == {"val"}
    assert sorted(r["extra_info"]["index"] for r in train + val) == list(range(N))
    source = [json.loads(line) for line in open(records)]
    for row in train + val:
        rec = source[row["extra_info"]["index"]]
        system, user = row["prompt"]
        assert system == {"role": "system", "content": WETHINK_SYSTEM_PROMPT}
        assert user["role"] == "user" and user["content"].startswith("<image>")
        # verl splits on these three tags: exactly one per image, whatever the problem says
        assert sum(user["content"].count(t) for t in ("<image>", "<video>", "<audio>")) == len(row["images"]) == 1
        assert "<|image_pad|>" not in user["content"]
        assert os.path.isabs(row["images"][0]) and os.path.isfile(row["images"][0])
        assert row["data_source"] == "wethink"
        assert row["reward_model"]["ground_truth"] == clean_answer(rec["answer"]) and "<answer>" not in row["reward_model"]["ground_truth"]
        assert row["reward_model"]["style"] == ("model" if rec["reward"] == "model-based" else "rule")
        extra = row["extra_info"]
        assert (extra["reward"], extra["category"], extra["abilities"], extra["image_path"]) == (
            rec["reward"], rec["category"], rec["abilities"], rec["image_path"])  # fmt: skip
        assert extra["problem"] == normalize_whitespace(rec["problem"])  # unescaped, for the judge
        assert extra["image_size"] == [96, 72]
    escaped = [r for r in train + val if "&lt;image&gt;" in r["prompt"][1]["content"]]
    assert escaped and all("<image>" in r["extra_info"]["problem"] for r in escaped)

    summary = json.loads((out / "prepare_summary.json").read_text())
    assert summary["rows_in"] == N and summary["written"] == {"train": N - 6, "val": 6} and summary["skipped"] == {}
    assert set(summary["category"]) == {"multiple choice", "fill-in-the-blank", "descriptive"}
    assert summary["images"]["width"] == [96, 96]
    assert (out / "prepare_summary.txt").read_text().strip() in proc.stdout


def test_refuses_to_overwrite_and_never_touches_input(clean_set, tmp_path):
    records, root = clean_set
    out = tmp_path / "o"
    args = ("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "verl")
    assert run_cli(*args).returncode == 0
    first = sha(out / "train.parquet")
    proc = run_cli(*args, "--val-size", "5")
    assert proc.returncode == 2 and "--force" in proc.stderr and "train.parquet" in proc.stderr
    assert sha(out / "train.parquet") == first
    proc = run_cli(*args, "--val-size", "5", "--force")
    assert proc.returncode == 0, proc.stderr
    assert pq.read_metadata(out / "train.parquet").num_rows == N - 5
    # --force without a val split removes the stale val file of the previous run
    assert run_cli(*args, "--force").returncode == 0
    assert not (out / "val.parquet").exists()

    # an output path that is the input itself is refused even with --force
    inplace = tmp_path / "inplace"
    inplace.mkdir()
    target = inplace / "train.jsonl"
    target.write_bytes(Path(records).read_bytes())
    before = sha(target)
    with pytest.raises(OutputExistsError, match="is the input"):
        prepare(cfg(target, root, inplace, format="easyr1", force=True))
    assert sha(target) == before


def test_limit_and_val_split_are_deterministic(clean_set, tmp_path):
    records, root = clean_set
    r1 = prepare(cfg(records, root, tmp_path / "a", limit=20, val_size=0.25, seed=7))
    r2 = prepare(cfg(records, root, tmp_path / "b", limit=20, val_size=0.25, seed=7))
    r3 = prepare(cfg(records, root, tmp_path / "c", limit=20, val_size=0.25, seed=8))
    assert r1.stats.rows_in == 20 and dict(r1.stats.written) == {"train": 15, "val": 5}

    def val_indices(d):
        return sorted(r["extra_info"]["index"] for r in pq.read_table(d / "val.parquet").to_pylist())

    assert val_indices(tmp_path / "a") == val_indices(tmp_path / "b") != val_indices(tmp_path / "c")
    assert max(val_indices(tmp_path / "a")) < 20
    assert r2.stats.total_written == 20 and r3.stats.total_written == 20
    with pytest.raises(ValueError, match="leaves no training rows"):
        prepare(cfg(records, root, tmp_path / "d", limit=5, val_size=5))


def test_embed_images_stores_the_file_bytes(clean_set, tmp_path):
    records, root = clean_set
    prepare(cfg(records, root, tmp_path / "e", embed_images=True, limit=10))
    rows = pq.read_table(tmp_path / "e" / "train.parquet").to_pylist()
    assert len(rows) == 10
    for row in rows:
        (image,) = row["images"]
        assert image["path"] == row["extra_info"]["image_path"]
        assert image["bytes"] == (Path(root) / image["path"]).read_bytes()


def test_relative_image_paths_and_user_turn_prompt(clean_set, tmp_path):
    records, root = clean_set
    prepare(cfg(records, root, tmp_path / "r", image_paths="relative", system_prompt="user", data_source="wt120k", limit=5))
    for row in pq.read_table(tmp_path / "r" / "train.parquet").to_pylist():
        assert row["images"] == [row["extra_info"]["image_path"]]
        (user,) = row["prompt"]
        assert user["content"].endswith(" " + WETHINK_SYSTEM_PROMPT) and row["data_source"] == "wt120k"


def test_workers_give_identical_output(clean_set, tmp_path):
    records, root = clean_set
    prepare(cfg(records, root, tmp_path / "w1", workers=1, val_size=4))
    prepare(cfg(records, root, tmp_path / "w2", workers=2, val_size=4))
    for name in ("train.parquet", "val.parquet"):
        assert pq.read_table(tmp_path / "w1" / name).equals(pq.read_table(tmp_path / "w2" / name))


# ---- EasyR1 and SFT -----------------------------------------------------------------------------
def test_easyr1_output_carries_packed_metadata_and_template(clean_set, tmp_path):
    from jinja2 import Template

    from wethink_verl.integrations.easyr1_reward import compute_score

    records, root = clean_set
    out = tmp_path / "easyr1"
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "easyr1", "--val-size", "4")
    assert proc.returncode == 0, proc.stderr
    assert visible(out) == ["prepare_summary.json", "prepare_summary.txt", "train.jsonl", "val.jsonl", "wethink_format.jinja"]
    rows = [json.loads(line) for name in ("train.jsonl", "val.jsonl") for line in open(out / name)]
    assert len(rows) == N
    template = Template((out / "wethink_format.jinja").read_text())
    source = [json.loads(line) for line in open(records)]
    inputs, golds = [], []
    for row in rows:
        assert set(row) == {"problem", "answer", "images"}
        packed = unpack_ground_truth(row["answer"])
        rec = next(r for r in source if r["image_path"] == packed["image_path"] and normalize_whitespace(r["problem"]) == packed["problem"])
        assert packed["answer"] == clean_answer(rec["answer"])
        assert (packed["category"], packed["reward"]) == (rec["category"], rec["reward"])
        rendered = template.render(content=row["problem"])
        # EasyR1 splits the rendered prompt on <image>: one per image, instruction appended
        assert rendered.count("<image>") == len(row["images"]) == 1
        assert rendered.endswith(" " + WETHINK_SYSTEM_PROMPT) and rendered.startswith("<image>")
        if rec["reward"] == "rule-based":
            inputs.append({"response": f"<think>I checked.</think><answer>{packed['answer']}</answer>", "response_length": 9, "ground_truth": row["answer"]})
            golds.append(packed["answer"])
    # the packed rows route through our EasyR1 reward file: the right answer scores full marks
    scores = compute_score(inputs)
    assert len(scores) == len(inputs) > 20
    assert all(s["overall"] == pytest.approx(1.0) for s in scores), [(g, s) for g, s in zip(golds, scores) if s["overall"] < 1]


def test_sft_output_is_llamafactory_sharegpt(clean_set, tmp_path):
    from wethink_verl.verifiers.format import check_format

    records, root = clean_set
    out = tmp_path / "sft"
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "sft", "--val-size", "3")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((out / "train.json").read_text()) + json.loads((out / "val.json").read_text())
    assert len(rows) == N
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["wethink_train"] == {
        "file_name": "train.json", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "images": "images", "system": "system"},
    }  # fmt: skip
    for row in rows:
        human, gpt = row["conversations"]
        assert human["from"] == "human" and gpt["from"] == "gpt" and row["system"] == WETHINK_SYSTEM_PROMPT
        # LLaMA-Factory counts <image> over all messages against the images list
        assert sum(m["value"].count("<image>") for m in row["conversations"]) == len(row["images"]) == 1
        assert check_format(gpt["value"]).score == 1.0, gpt["value"]
        assert os.path.isfile(row["images"][0])
    cot_only = prepare(cfg(records, root, tmp_path / "sft2", format="sft", sft_target="cot", system_prompt="none", limit=5))
    assert cot_only.stats.total_written == 5
    for row in json.loads((tmp_path / "sft2" / "train.json").read_text()):
        assert "system" not in row and "<think>" not in row["conversations"][1]["value"]


def test_embed_images_is_verl_only_and_easyr1_has_no_system_turn(clean_set, tmp_path):
    records, root = clean_set
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(tmp_path / "x"), "--format", "easyr1", "--embed-images")
    assert proc.returncode == 2 and "--embed-images applies to --format verl only" in proc.stderr
    with pytest.raises(ValueError, match="no system turn"):
        prepare(cfg(records, root, tmp_path / "y", format="easyr1", system_prompt="system"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ---- bad rows -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [k for k in BAD_ROW_KINDS if k != "unknown category"])
def test_each_bad_row_stops_the_run_naming_the_row(kind, tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 30, seed=3, bad_rows=[kind])
    where = bad_row_positions(30, [kind])[kind]
    out = tmp_path / "out"
    with pytest.raises(BadRowError) as err:
        prepare(cfg(records, root, out, val_size=3))
    assert err.value.index == where and err.value.reason == BAD_ROW_KINDS[kind]
    assert f"row {where} (line {where + 1}): {BAD_ROW_KINDS[kind]}" in str(err.value)
    assert not out.exists()  # the run created it, and leaves nothing behind

    res = prepare(cfg(records, root, out, val_size=3, skip_bad=True))
    assert dict(res.stats.skipped) == {BAD_ROW_KINDS[kind]: 1}
    assert res.stats.skipped_examples == {BAD_ROW_KINDS[kind]: [where]}
    assert res.stats.total_written == 29


def test_bad_row_error_from_the_cli(bad_set, tmp_path):
    records, root = bad_set
    out = tmp_path / "out"
    first = min(i for k, i in bad_row_positions(N).items() if k != "unknown category")
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "verl")
    assert proc.returncode == 1
    assert f"row {first} (line {first + 1}): missing image" in proc.stderr and "--skip-bad" in proc.stderr
    assert not out.exists()

    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "verl", "--skip-bad")
    assert proc.returncode == 0, proc.stderr
    assert "skipped rows by reason" in proc.stdout and "category=essay" in proc.stdout
    summary = json.loads((out / "prepare_summary.json").read_text())
    expected = {BAD_ROW_KINDS[k]: 1 for k in BAD_ROW_KINDS if k != "unknown category"}
    assert summary["skipped"] == expected
    assert summary["unknown_values"] == {"category=essay": {"rows": 1, "first_row": bad_row_positions(N)["unknown category"]}}
    assert pq.read_metadata(out / "train.parquet").num_rows == N - len(expected)


def test_unknown_category_reject_policy(bad_set, tmp_path):
    records, root = bad_set
    where = bad_row_positions(N)["unknown category"]
    res = prepare(cfg(records, root, tmp_path / "a", skip_bad=True, on_unknown="reject"))
    assert res.stats.skipped[Reason.UNKNOWN_CATEGORY] == 1 and res.stats.skipped_examples[Reason.UNKNOWN_CATEGORY] == [where]
    assert not res.stats.unknown
    records2, root2 = write_synthetic_wethink(tmp_path / "ds", 20, seed=4, bad_rows=["unknown category"])
    with pytest.raises(BadRowError, match=r"row \d+ \(line \d+\): unknown category: 'essay'"):
        prepare(cfg(records2, root2, tmp_path / "b", on_unknown="reject"))


def test_header_check_misses_truncation_decode_catches_it(tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 20, seed=5, bad_rows=["truncated image"])
    assert prepare(cfg(records, root, tmp_path / "h", image_check="header")).stats.total_written == 20
    with pytest.raises(BadRowError, match="corrupt image"):
        prepare(cfg(records, root, tmp_path / "d", image_check="decode"))


def test_decode_check_catches_truncated_and_bit_flipped_png(tmp_path):
    from PIL import Image

    from wethink_verl.data.schema import ImageChecker, ImageProblem

    Image.frombytes("RGB", (200, 150), os.urandom(200 * 150 * 3)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) * 9 // 10])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    (tmp_path / "flip.png").write_bytes(bytes(flipped))
    (tmp_path / "text.png").write_text("not an image")
    decode, header = ImageChecker(str(tmp_path), "decode"), ImageChecker(str(tmp_path), "header")
    assert decode.check("ok.png") == (str(tmp_path / "ok.png"), (200, 150))
    for name in ("cut.png", "flip.png", "text.png"):
        with pytest.raises(ImageProblem) as err:
            decode.check(name)
        assert err.value.reason == Reason.CORRUPT_IMAGE and name in err.value.detail
    assert header.check("cut.png")[1] == (200, 150)  # the header alone cannot see it
    with pytest.raises(ImageProblem, match="missing image"):
        header.check("nope.png")


def test_sft_rejects_rows_without_reasoning(tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 10, seed=6)
    rows = [json.loads(line) for line in open(records)]
    rows[4]["refined_cot"] = "<answer>B</answer>"  # nothing left once the answer block goes
    Path(records).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(BadRowError, match=r"row 4 \(line 5\): empty refined_cot"):
        prepare(cfg(records, root, tmp_path / "o", format="sft"))
    assert prepare(cfg(records, root, tmp_path / "v", format="verl")).stats.total_written == 10  # RL does not need it


# ---- interruption -------------------------------------------------------------------------------
def test_error_mid_write_leaves_no_output(tmp_path):
    # 3000 rows: the bad row comes after two row groups were flushed to the staged parquet
    records, root = write_synthetic_wethink(tmp_path / "ds", 3000, seed=7, bad_rows=["missing answer"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "unrelated.txt").write_text("keep me")
    with pytest.raises(BadRowError, match="row 1500"):
        prepare(cfg(records, root, out, workers=1))
    assert sorted(os.listdir(out)) == ["unrelated.txt"]


def _staging_dirs(out: Path) -> list[str]:
    return [n for n in os.listdir(out) if n.startswith(".wethink-prepare-") and n.endswith(".tmp")] if out.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killed_run_leaves_no_output(sig, tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 4000, seed=8)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [PYTHON, "-m", "wethink_verl.cli", "prepare", "--input", records, "--image-root", root, "--output-dir", str(out),
         "--format", "verl", "--embed-images", "--workers", "1", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until the staged parquet has data in it
            staged = _staging_dirs(out)
            if staged and any(f.stat().st_size > 4096 for f in (out / staged[0]).iterdir()):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        else:
            pytest.fail("the run never started writing")
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (out / "train.parquet").exists() and not (out / "prepare_summary.txt").exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and "interrupted" in stderr
        assert _staging_dirs(out) == []
    else:
        assert len(_staging_dirs(out)) == 1  # SIGKILL cannot clean up: the next run does
        res = prepare(cfg(records, root, out, limit=10))
        assert res.stats.total_written == 10 and _staging_dirs(out) == []


# ---- input formats ------------------------------------------------------------------------------
def test_json_array_input_gives_the_same_rows(tmp_path):
    jsonl, root1 = write_synthetic_wethink(tmp_path / "l", 40, seed=9, bad_rows=["empty answer", "missing image"])
    array, root2 = write_synthetic_wethink(tmp_path / "a", 40, seed=9, bad_rows=["empty answer", "missing image"], fmt="json")
    assert count_records(array) == count_records(jsonl) == 40
    a = prepare(cfg(jsonl, root1, tmp_path / "o1", skip_bad=True, image_paths="relative"))
    b = prepare(cfg(array, root2, tmp_path / "o2", skip_bad=True, image_paths="relative"))
    assert a.stats.to_dict() == b.stats.to_dict()
    assert pq.read_table(tmp_path / "o1" / "train.parquet").equals(pq.read_table(tmp_path / "o2" / "train.parquet"))


def test_streaming_array_reader_across_chunk_boundaries(tmp_path):
    values = [{"problem": "é" * k + '"\\', "answer": k, "x": [1.5e3, None, True, "}]"]} for k in range(50)] + [{"n": 12345678901234567890}]
    path = tmp_path / "a.json"
    path.write_text(" \n[ " + " ,\n ".join(json.dumps(v, ensure_ascii=False) for v in values) + " ]\n", encoding="utf-8")
    for chunk in (1, 2, 3, 7, 64, 1 << 20):
        assert [r.record for r in _iter_json_array(str(path), chunk_size=chunk)] == values
    assert [r.record for r in iter_records(str(path), limit=3)] == values[:3]
    (tmp_path / "e.json").write_text("[]")
    assert list(iter_records(str(tmp_path / "e.json"))) == []


def test_malformed_inputs_are_named(tmp_path):
    bad_array = tmp_path / "b.json"
    bad_array.write_text('[{"a": 1}, {"a": 2,, "b": 3}' + ', {"a": 4}' * 10 + "]")
    with pytest.raises(InputError, match="array element 1 is not valid JSON"):
        list(_iter_json_array(str(bad_array), chunk_size=4))
    truncated = tmp_path / "t.json"
    truncated.write_text('[{"a": 1}, {"a": "unterminated')
    with pytest.raises(InputError, match="array element 1"):
        list(iter_records(str(truncated)))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n \n")
    with pytest.raises(InputError, match="empty"):
        count_records(str(empty))
    # JSONL: a broken line is one bad row (named), the rest are read
    lines = tmp_path / "x.jsonl"
    lines.write_text('{"a": 1}\n\n{"a": \n[1, 2]\n')
    rows = list(iter_records(str(lines)))
    assert [(r.index, r.line) for r in rows] == [(0, 1), (1, 3), (2, 4)]
    assert rows[1].error and rows[2].record == [1, 2]


def test_non_object_and_odd_fields(tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 6, seed=10)
    rows = [json.loads(line) for line in open(records)]
    rows[1] = ["not", "an", "object"]
    rows[2]["answer"] = 7  # a JSON number is an answer
    rows[3]["image_path"] = None
    rows[4]["abilities"] = ["OCR", "Reasoning"]
    Path(records).write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = prepare(cfg(records, root, tmp_path / "o", skip_bad=True))
    assert dict(res.stats.skipped) == {Reason.NOT_AN_OBJECT: 1, Reason.MISSING_IMAGE_PATH: 1}
    table = {r["extra_info"]["index"]: r for r in pq.read_table(tmp_path / "o" / "train.parquet").to_pylist()}
    assert table[2]["reward_model"]["ground_truth"] == "7"
    assert table[4]["extra_info"]["abilities"] == "OCR, Reasoning"


# ---- issue 12: nothing read from outside the image root, outputs published as one set ------------
def _rewrite(records: str, edit) -> None:
    rows = [json.loads(line) for line in open(records)]
    edit(rows)
    Path(records).write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_image_paths_are_confined_to_the_image_root(tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 8, seed=11)
    secret = tmp_path / "secret.txt"
    secret.write_text("export API_KEY=hunter2\n")
    outside_png = tmp_path / "outside.png"
    outside_png.write_bytes((Path(root) / json.loads(open(records).readline())["image_path"]).read_bytes())
    os.symlink(outside_png, Path(root) / "link_out.png")  # a symlink leading out of the root
    escapes = {1: os.path.relpath(secret, root), 2: str(secret), 3: "~/.bashrc", 4: "link_out.png", 5: os.path.relpath(outside_png, root)}
    _rewrite(records, lambda rows: [rows[i].update(image_path=p) for i, p in escapes.items()])

    for check in ("exists", "decode"):
        out = tmp_path / f"out-{check}"
        proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(out), "--format", "verl",
                       "--image-check", check, "--embed-images")  # fmt: skip
        assert proc.returncode == 1 and "row 1 (line 2): image outside the image root" in proc.stderr, proc.stderr
        assert "secret.txt" in proc.stderr and not out.exists()
        res = prepare(cfg(records, root, out, image_check=check, embed_images=True, skip_bad=True))
        # "~" is no home directory inside the root: that row names a missing ROOT/~/.bashrc
        assert res.stats.skipped == {Reason.OUTSIDE_IMAGE_ROOT: 4, Reason.MISSING_IMAGE: 1} and res.stats.total_written == 3
        blobs = b"".join(i["bytes"] for r in pq.read_table(out / "train.parquet").to_pylist() for i in r["images"])
        assert b"hunter2" not in blobs

    # an explicit flag allows outside paths (a symlinked image store, absolute paths elsewhere)
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(tmp_path / "allowed"), "--format", "verl",
                   "--allow-images-outside-root", "--skip-bad", "--image-check", "exists")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    written = {r["extra_info"]["index"] for r in pq.read_table(tmp_path / "allowed" / "train.parquet").to_pylist()}
    assert {1, 2, 4, 5} <= written  # every outside path that exists (an exists check reads no bytes)


def test_embed_images_embeds_only_real_images(tmp_path):
    records, root = write_synthetic_wethink(tmp_path / "ds", 6, seed=12)
    (Path(root) / "profile.png").write_text("alias ll='ls -l'\nexport TOKEN=abc\n")
    _rewrite(records, lambda rows: rows[2].update(image_path="profile.png"))
    for check in ("exists", "header"):
        proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(tmp_path / check), "--format", "verl",
                       "--image-check", check, "--embed-images")  # fmt: skip
        assert proc.returncode == 1 and "row 2 (line 3): corrupt image" in proc.stderr and "profile.png" in proc.stderr, proc.stderr


def test_prepare_output_dir_that_is_a_file_is_a_usage_error(clean_set, tmp_path):
    records, root = clean_set
    target = tmp_path / "a-file"
    target.write_text("keep")
    proc = run_cli("--input", records, "--image-root", root, "--output-dir", str(target), "--format", "verl")
    assert proc.returncode == 2 and "is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "keep"


def _published(out: Path) -> tuple[dict[str, str], dict | None]:
    """What a reader sees: data file -> content digest (through any links), and the summary's
    row counts (its text names the run's timing, so only its counts are compared)."""
    data = {n: sha(out / n) for n in sorted(os.listdir(out)) if n.endswith(".parquet") and (out / n).exists()}
    summary = out / "prepare_summary.json"
    return data, json.loads(summary.read_text())["written"] if summary.exists() else None


def test_the_output_set_is_published_at_once(clean_set, tmp_path):
    """A reader sees the old set or the new set, never a mix: whatever the moment a run dies, the
    visible files all come from one run. Simulated by stopping the publish step after each of
    its operations (os.replace / os.rename / os.symlink / os.remove / rmtree)."""
    import wethink_verl.data.prepare as prep

    records, root = clean_set
    out = tmp_path / "out"
    prepare(cfg(records, root, out, val_size=10, seed=1))
    old = _published(out)
    prepare(cfg(records, root, tmp_path / "ref", val_size=20, seed=2))
    new = _published(tmp_path / "ref")
    assert set(old[0]) == set(new[0]) and all(old[0][n] != new[0][n] for n in old[0]) and old[1] != new[1]

    class Crash(BaseException):
        pass

    for stop_after in range(1, 40):
        calls = {"n": 0}

        def counted(fn):
            def wrapper(*a, **k):
                result = fn(*a, **k)
                calls["n"] += 1
                if calls["n"] == stop_after:
                    raise Crash()
                return result

            return wrapper

        saved = {name: getattr(prep.os, name) for name in ("replace", "rename", "symlink", "remove", "unlink")}
        try:
            for name, fn in saved.items():
                setattr(prep.os, name, counted(fn))
            finished = True
            try:
                prepare(cfg(records, root, out, val_size=20, seed=2, force=True))
            except Crash:
                finished = False
        finally:
            for name, fn in saved.items():
                setattr(prep.os, name, fn)
        seen = _published(out)
        assert seen in (old, new), (stop_after, seen)
        if finished:
            break
        # reset to the old set for the next round
        prepare(cfg(records, root, out, val_size=10, seed=1, force=True))
        assert _published(out) == old
    else:
        pytest.fail("publishing never finished")
    assert _published(out) == new


# ---- issue 12: Ctrl-C and SIGKILL with image-check workers: no hang, no orphan, nothing left ------
@pytest.fixture(scope="module")
def big_set(tmp_path_factory):
    return write_synthetic_wethink(tmp_path_factory.mktemp("big"), 4000, seed=13)


def _start_prepare(records, root, out, *extra) -> subprocess.Popen:
    # a session of its own, signalled as a whole: what a terminal's Ctrl-C does (workers get it too)
    return subprocess.Popen(
        [PYTHON, "-m", "wethink_verl.cli", "prepare", "--input", records, "--image-root", root, "--output-dir", str(out),
         "--format", "verl", "--workers", "2", "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _wait_for_workers(proc: subprocess.Popen, n: int = 2, timeout: float = 120):
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        kids = psutil.Process(proc.pid).children(recursive=True)
        if sum("spawn_main" in " ".join(k.cmdline()) for k in kids if k.is_running()) >= n:
            return kids
        time.sleep(0.05)
    pytest.fail("the workers never started")


def _all_gone(procs, timeout: float = 20) -> list:
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def _interrupt_once(records, root, out, delay: float) -> None:
    proc = _start_prepare(records, root, out)
    try:
        kids = _wait_for_workers(proc)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)  # the bound: a hang fails here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in stderr, stderr
    if proc.returncode == 0:  # it finished before the signal landed: a complete set
        assert (out / "prepare_summary.json").exists()
    else:
        assert proc.returncode == 130 and "interrupted" in stderr, (proc.returncode, stderr)
        assert not (out / "train.parquet").exists()
    assert _staging_dirs(out) == []
    assert _all_gone(kids) == [], "a worker outlived the run"


def test_ctrl_c_with_workers_exits_130_and_leaves_nothing(big_set, tmp_path):
    records, root = big_set
    _interrupt_once(records, root, tmp_path / "out", delay=0.3)


@pytest.mark.slow
def test_ctrl_c_with_workers_many_tries(big_set, tmp_path):
    records, root = big_set
    for i in range(12):  # the old pool hung in about 5 of 17 tries
        _interrupt_once(records, root, tmp_path / f"out{i}", delay=(i % 6) * 0.25)


def test_sigkill_leaves_no_worker_behind(big_set, tmp_path):
    records, root = big_set
    for i in range(3):
        proc = _start_prepare(records, root, tmp_path / f"out{i}")
        try:
            kids = _wait_for_workers(proc)
            proc.kill()  # the parent alone, as the OOM killer would
            proc.wait(timeout=30)
            assert _all_gone(kids) == [], "workers (or the resource tracker) outlived a SIGKILLed parent"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_without_symlinks_the_files_are_renamed_one_by_one_with_a_warning(clean_set, tmp_path, monkeypatch):
    import errno

    import wethink_verl.data.publish as publish

    def no_symlinks(*_a, **_k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(publish.os, "symlink", no_symlinks)
    records, root = clean_set
    out = tmp_path / "out"
    res = prepare(cfg(records, root, out, val_size=5))
    assert "renamed into place one by one, not as one set" in res.summary
    assert visible(out) == ["prepare_summary.json", "prepare_summary.txt", "train.parquet", "val.parquet"]
    assert not (out / "train.parquet").is_symlink() and pq.read_metadata(out / "val.parquet").num_rows == 5
    assert [n for n in os.listdir(out) if n.startswith(".")] == []
