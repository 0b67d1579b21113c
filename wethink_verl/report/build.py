"""The report of a training run: read every source under RUN_DIR, aggregate, write ``report.html``,
the PNGs and ``summary.json`` (``wethink-verl report`` is ``cli/report.py``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

LOOKED_FOR = ("verl rollout dumps ({step}.jsonl from trainer.rollout_data_dir / validation_data_dir), "
              "`wethink-verl score` output (JSONL with response and score), EasyR1's experiment_log.jsonl or verl's file-logger JSONL")  # fmt: skip


class NothingToReport(RuntimeError):
    pass


def _notes(agg, sources) -> list[str]:
    notes = []
    if agg.bad_lines:
        notes.append(f"{agg.bad_lines} lines were not JSON objects and were skipped (counted, not guessed).")
    dumps = sum(1 for s in sources if s.kind == "verl dump")
    if agg.missing_keys.get("verifier") and dumps:
        notes.append(
            f"{agg.missing_keys['verifier']} of {dumps} verl dump files carry no reward_extra_info (no verifier, category, status, "
            "reason): verl 0.9.1's V1 trainer dumps training rollouts with uid only. Per-verifier and per-category views need "
            "trainer.validation_data_dir (its dumps carry every key) or the legacy trainer (trainer.use_v1=false)."
        )  # fmt: skip
    if agg.recomputed:
        what = ", ".join(f"{k} for {v} rows" for k, v in sorted(agg.recomputed.items()))
        notes.append(f"Recomputed from the response text with wethink_verl's own extract/format check at default settings: {what}.")
    return notes


def build_report(run: str | Path, out: str | Path | None = None, workers: int | None = None, quiet: bool = False) -> dict[str, Any]:
    """Read ``run``, write ``report.html``, the PNGs and ``summary.json`` into ``out``; return the summary."""
    from .aggregate import all_jumps
    from .charts import write_charts
    from .page import render
    from .read import default_workers, read_all
    from .sources import discover

    run = Path(run)
    found = discover(run)
    if not found.sources:
        skipped = "".join(f"\n  skipped {p}: {why}" for p, why in found.skipped[:20])
        raise NothingToReport(f"nothing to report in {run}: looked for {LOOKED_FOR}; found none{skipped}")
    out = Path(out) if out else (run if run.is_dir() else run.parent) / "wethink_report"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    agg, per_kind = read_all(found.sources, workers or default_workers(), quiet)
    series = agg.series()
    jumps = all_jumps(series)
    summary = {
        "run": str(run),
        "rows": agg.rows,
        "bad_lines": agg.bad_lines,
        "rows_by_kind": dict(per_kind),
        "sources": [{"path": s.path, "kind": s.kind, "split": s.split} for s in found.sources],
        "skipped": [{"path": p, "why": why} for p, why in found.skipped],
        "notes": _notes(agg, found.sources),
        "series": series,
        "jumps": jumps,
        "samples": {v: k.summary() for v, k in agg.samples.items()},
        "read_seconds": round(time.perf_counter() - t0, 2),
    }
    charts = write_charts(series, jumps, out)
    (out / "report.html").write_text(render(summary, charts, out), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({**summary, "charts": charts}, indent=1, default=str), encoding="utf-8")
    summary["charts"] = charts
    summary["out"] = str(out)
    return summary
