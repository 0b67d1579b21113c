"""``wethink-verl demo --output-dir``: the demo never deletes what it did not create. A one-row
demo fails in its first stage (it needs every category) after claiming its directory, which is
all these tests need; the whole demo runs in tests/test_demo.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def demo(output_dir, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wethink_verl.cli", "demo", "--output-dir", str(output_dir), "--rows", "1", "--no-judge"],
                          capture_output=True, text=True, timeout=600, cwd=cwd)  # fmt: skip


def test_refuses_a_file_and_a_foreign_directory(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    proc = demo(target)
    assert proc.returncode == 2 and "is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "mine"
    home_like = tmp_path / "home"
    home_like.mkdir()
    (home_like / ".bashrc").write_text("alias ll='ls -l'\n")
    (home_like / "thesis").mkdir()
    for where, cwd in ((home_like, None), (".", home_like)):  # `--output-dir .` from a user's folder
        proc = demo(where, cwd=cwd)
        assert proc.returncode == 2 and "not empty" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in home_like.iterdir()) == [".bashrc", "thesis"]


def test_a_rerun_replaces_only_the_demos_own_outputs(tmp_path):
    out = tmp_path / "demo"
    proc = demo(out)  # a fresh directory: taken and marked
    assert proc.returncode == 1 and "needs every category" in proc.stderr
    marker = json.loads((out / ".wethink-demo-output").read_text())
    assert "data" in marker["created"] and (out / "data").is_dir()
    (out / "data" / "stale.txt").write_text("from the first run")
    (out / "my-notes.txt").write_text("keep me")  # a user's file beside the demo's
    proc = demo(out)
    assert proc.returncode == 1, proc.stderr
    assert (out / "my-notes.txt").read_text() == "keep me"
    assert (out / "data").is_dir() and not (out / "data" / "stale.txt").exists()  # the demo's own folder was replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    assert demo(empty).returncode == 1 and (empty / ".wethink-demo-output").exists()  # an empty directory is fine
