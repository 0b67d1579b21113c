"""The demo's output directory: it never deletes what the demo did not create.

A directory the demo writes into carries a marker file listing the entries the demo created
there. A later run removes exactly those entries (a user's files beside them stay), a new or
empty directory is taken and marked, and anything else — a file, a non-empty directory that is
no demo output (``--output-dir .`` or ``~``) — is refused before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MARKER = ".wethink-demo-output"
# what the demo writes (recorded up front, so even a crashed run's outputs are known)
DEMO_ENTRIES = ("data", "verl", "verl-cache", "rollouts.jsonl", "report.json", "reward_breakdown.png")


class OutputDirError(ValueError):
    pass


def _marker(out: Path) -> dict | None:
    try:
        data = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("created"), list) else None


def check_output_dir(path: str | os.PathLike) -> Path:
    """The resolved directory, or OutputDirError when the demo may not write there."""
    out = Path(path).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--output-dir {path} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and _marker(out) is None:
        raise OutputDirError(
            f"--output-dir {path} is not empty and holds no earlier demo output ({MARKER}): "
            "the demo never deletes files it did not create; choose a new or empty directory"
        )
    return out


def _write_marker(out: Path, created: list[str], present: list[str]) -> None:
    tmp = out / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"created": sorted(created), "present_before": sorted(present)}, indent=1), encoding="utf-8")
    os.replace(tmp, out / MARKER)


def claim_output_dir(path: str | os.PathLike) -> Path:
    """Make ``path`` ready for a demo run: checked, the previous run's entries removed, marked."""
    out = check_output_dir(path)
    out.mkdir(parents=True, exist_ok=True)
    marker = _marker(out)
    for name in (marker or {}).get("created", []):
        target = out / str(name)
        if "/" in str(name) or name in ("", ".", "..", MARKER):
            continue  # a marker edited by hand names nothing outside this directory
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    present = sorted(n for n in os.listdir(out) if n != MARKER)
    _write_marker(out, [n for n in DEMO_ENTRIES if n not in present], present)
    return out


def record_outputs(out: Path) -> None:
    """At the end of a run: every entry the run added is the demo's (including new kinds of output)."""
    marker = _marker(out) or {"created": [], "present_before": []}
    before = set(marker.get("present_before") or [])
    created = [n for n in os.listdir(out) if n not in before and n != MARKER]
    _write_marker(out, sorted(set(created) | set(marker["created"])), sorted(before))
