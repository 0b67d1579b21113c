"""The report page in a real browser: headless Debian Chromium loads it, every chart decodes, the
console stays silent (no script error, no Content-Security-Policy violation), hostile text in the
responses stays text, and the screenshot shows the charts.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it); without it this test
is skipped, unless WETHINK_REQUIRE_CHROMIUM=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("verl")

from report_runs import write_run  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("WETHINK_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is required here (apt-get install -y chromium)")
        pytest.skip("no chromium on this machine (apt-get install -y chromium)")
    return path


def browse(page: str, profile, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, f"file://{page}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report_page(qwen_tokenizer_dir, tmp_path_factory):
    from transformers import AutoTokenizer

    run = write_run(AutoTokenizer.from_pretrained(qwen_tokenizer_dir), tmp_path_factory.mktemp("run"), steps=6, hack_from=4, copies=2)
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([sys.executable, "-m", "wethink_verl.cli", "report", str(run), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "report.html"


def test_console_check_catches_errors(tmp_path):
    """The check below is not vacuous: a script error and a blocked remote image are both seen."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="img-src data:"></head>'
                    '<body><script>undefinedFunction()</script><img src="http://127.0.0.1:9/x.png"></body></html>')  # fmt: skip
    proc = browse(str(page), tmp_path / "profile", "--dump-dom")
    lines = console_lines(proc.stderr)
    assert any("undefinedFunction" in line for line in lines) and any("Content Security Policy" in line for line in lines), proc.stderr[-2000:]


def test_report_renders_in_chromium(report_page, tmp_path):
    proc = browse(str(report_page), tmp_path / "p1", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-charts-rendered="5"' in dom  # all five PNGs decoded (set by the page's one script)
    assert console_lines(proc.stderr) == [], console_lines(proc.stderr)
    assert "PWNED" not in dom.split("<body")[0] and "data-pwned" not in dom  # the hostile script and onerror never ran
    assert "&lt;script&gt;document.title=" in dom  # ... and are shown as text

    shot = tmp_path / "shot.png"
    proc = browse(str(report_page), tmp_path / "p2", "--window-size=1400,2600", f"--screenshot={shot}")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    from PIL import Image

    im = Image.open(shot).convert("RGB")
    assert im.size == (1400, 2600)
    small = im.resize((350, 650))
    pixels = list(small.getdata()) if not hasattr(small, "get_flattened_data") else list(small.get_flattened_data())
    colourful = sum(1 for p in pixels if max(p) - min(p) > 80)
    assert colourful > 0.02 * len(pixels), colourful  # chart lines and stacked areas: not a blank or broken page
    assert len(set(pixels)) > 500
