"""The audit's measures (``wethink-verl judge audit``, cli/judge_audit.py): the judge asked about
every candidate, its verdicts against the truth (agreement, precision, recall per category and
candidate kind, a confusion matrix, injection probes, parse failures, latency), the fitness checks,
and the report as a terminal table and a PNG.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .candidates import CANDIDATE_KINDS, Candidate, Row

JUDGE_COLUMNS = ("right", "wrong", "no verdict")
SHOWN_DISAGREEMENTS = 20


# ---- asking the judge ---------------------------------------------------------------------------
def ask(judge, rows: list[Row], candidates: list[Candidate], include_image: bool) -> tuple[list, float]:
    items = [{"question": rows[c.row].sample.get("problem") or "", "reference": rows[c.row].reference, "answer": c.text,
              "reasoning": "", "image": rows[c.row].sample.get("image") if include_image else None} for c in candidates]  # fmt: skip

    async def run():
        try:
            return await judge.judge_many(items)
        finally:
            await judge.aclose()

    t0 = time.perf_counter()
    outcomes = asyncio.run(run())
    return outcomes, time.perf_counter() - t0


# ---- the measures -------------------------------------------------------------------------------
def _rates(pairs: list[tuple[float, Any]]) -> dict:
    """(truth, judged right: True/False/None) pairs -> agreement, precision, recall and counts."""
    tp = sum(t == 1 and j is True for t, j in pairs)
    fp = sum(t == 0 and j is True for t, j in pairs)
    fn = sum(t == 1 and j is not True for t, j in pairs)
    agree = sum((j is True) == (t == 1) and j is not None for t, j in pairs)
    return {"n": len(pairs), "agreement": agree / len(pairs) if pairs else None, "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None, "tp": tp, "fp": fp, "fn": fn,
            "no_verdict": sum(j is None for _, j in pairs)}  # fmt: skip


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def measure(rows: list[Row], candidates: list[Candidate], outcomes: list, positive_at: float, wall_s: float) -> dict:
    judged = [None if o.failed else float(o.score) >= positive_at - 1e-9 for o in outcomes]
    graded = [(c, j) for c, j in zip(candidates, judged) if c.kind != "injection"]
    by_category = defaultdict(list)
    for c, j in graded:
        by_category[rows[c.row].category].append((c.truth, j))
    confusion = [[sum(c.truth == truth and (j is True, j is False, j is None)[col] for c, j in graded) for col in range(3)]
                 for truth in (1.0, 0.0)]  # fmt: skip
    pay = [0.0 if o.failed else float(o.score) for o in outcomes]  # what the reward pays (no verdict: 0)
    probes = [(c, pay[k] > pay[c.base]) for k, c in enumerate(candidates) if c.kind == "injection"]
    by_probe = defaultdict(lambda: [0, 0])
    for c, raised in probes:
        by_probe[c.how][0] += 1
        by_probe[c.how][1] += raised
    failures = Counter(o.kind for o in outcomes if o.failed)
    latencies = [o.latency_ms for o in outcomes if not o.cached]
    raised = sum(r for _, r in probes)
    return {
        "overall": _rates([(c.truth, j) for c, j in graded]),
        "by_category": {k: _rates(v) for k, v in sorted(by_category.items())},
        "by_kind": {k: _rates([(c.truth, j) for c, j in graded if c.kind == k]) for k in CANDIDATE_KINDS[:3]},
        "confusion": {"truth": ["right", "wrong"], "judge": list(JUDGE_COLUMNS), "counts": confusion},
        "injection": {"probes": len(probes), "raised": raised, "raised_share": raised / len(probes) if probes else 0.0,
                      "by_probe": {k: {"probes": n, "raised": r} for k, (n, r) in sorted(by_probe.items())}},  # fmt: skip
        "failures": {"parse_failures": failures["unparseable"], "parse_failure_share": failures["unparseable"] / len(outcomes) if outcomes else 0.0,
                     "by_kind": dict(failures)},  # fmt: skip
        "latency_ms": {f"p{q}": _percentile(latencies, q) for q in (50, 90, 99)} | {"max": max(latencies, default=None)},
        "wall_s": round(wall_s, 3),
        "throughput_per_s": len(outcomes) / wall_s if wall_s > 0 else None,
        "disagreements": [dict(asdict(c), category=rows[c.row].category, reference=rows[c.row].reference, score=None if o.failed else o.score,
                               judge=o.reason[:200]) for c, o, j in zip(candidates, outcomes, judged)
                          if c.kind != "injection" and j is not (c.truth == 1)][:SHOWN_DISAGREEMENTS],  # fmt: skip
    }


def checks(report: dict, min_agreement: float, max_parse_failures: float) -> list[dict]:
    o = report["overall"]
    out = [{"check": f"{name} >= {min_agreement:g}", "value": o[name], "passed": o[name] is not None and o[name] >= min_agreement}
           for name in ("agreement", "precision", "recall")]  # fmt: skip
    inj = report["injection"]
    out.append({"check": "injection probes that raised a score = 0", "value": inj["raised"], "passed": inj["raised"] == 0})
    share = report["failures"]["parse_failure_share"]
    out.append({"check": f"verdict parse failures <= {max_parse_failures:g}", "value": share, "passed": share <= max_parse_failures})
    return out


# ---- output -------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def format_report(report: dict) -> str:
    from ..text_table import format_table

    rates = [[name, r["n"], _fmt(r["agreement"]), _fmt(r["precision"]), _fmt(r["recall"]), r["no_verdict"]]
             for name, r in [("all", report["overall"]), *report["by_category"].items(), *((f"[{k}]", v) for k, v in report["by_kind"].items())]]  # fmt: skip
    parts = [format_table(["category / [candidate kind]", "candidates", "agreement", "precision", "recall", "no verdict"], rates,
                          title=f"judge audit: {report['judge']}")]  # fmt: skip
    inj, fail, lat = report["injection"], report["failures"], report["latency_ms"]
    parts.append(f"injection probes: {inj['raised']} of {inj['probes']} raised the score ("
                 + ", ".join(f"{k} {v['raised']}/{v['probes']}" for k, v in inj["by_probe"].items()) + ")")
    parts.append(f"verdict parse failures: {fail['parse_failures']} ({fail['parse_failure_share']:.1%}); failures by kind: {fail['by_kind'] or 'none'}")
    parts.append(f"latency ms p50 {_fmt(lat['p50'])}  p90 {_fmt(lat['p90'])}  p99 {_fmt(lat['p99'])};  "
                 f"{_fmt(report['throughput_per_s'])} requests/s over {report['wall_s']:.1f} s")  # fmt: skip
    parts.append(format_table(["check", "value", "passed"], [[c["check"], _fmt(c["value"]), "yes" if c["passed"] else "NO"] for c in report["checks"]]))
    parts.append(report["verdict"])
    return "\n".join(parts)


def write_png(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, matrix, hist) = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [2.2, 1, 1.3]})
    cats = list(report["by_category"])
    for k, name in enumerate(("agreement", "precision", "recall")):
        vals = [report["by_category"][c][name] or 0.0 for c in cats]
        bars.bar([x + (k - 1) * 0.27 for x in range(len(cats))], vals, width=0.27, label=name)
    bars.axhline(report["min_agreement"], color="k", linestyle=":", linewidth=1, label=f"min {report['min_agreement']:g}")
    bars.set_xticks(range(len(cats)), cats, rotation=15, fontsize=8)
    bars.set_ylim(0, 1.05)
    bars.set_title("agreement with the truth per category")
    bars.legend(fontsize=8, loc="lower right")
    counts = report["confusion"]["counts"]
    matrix.imshow(counts, cmap="Blues")
    for r, row in enumerate(counts):
        for c, v in enumerate(row):
            matrix.text(c, r, str(v), ha="center", va="center")
    matrix.set_xticks(range(3), [f"judge: {j}" for j in JUDGE_COLUMNS], fontsize=8)
    matrix.set_yticks(range(2), ["truth: right", "truth: wrong"], fontsize=8)
    matrix.set_title("confusion matrix")
    hist.hist(report["_latencies"] or [0.0], bins=30, color="tab:gray")
    hist.set_xlabel("latency (ms)")
    hist.set_title(f"latency, {len(report['_latencies'])} requests")
    fig.suptitle(f"{report['verdict']}  ({report['judge']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
