"""The report page: one self-contained HTML file (the PNGs embedded as data URLs, no external
resource), every value from the run escaped, and a Content-Security-Policy that allows images
from data URLs, inline styles and only our own one-line script (by hash) — so a response holding
``<script>`` or ``onerror=`` is shown as text and could not run even if escaping failed."""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path
from typing import Any

from .charts import LABELS

# sets data-charts-rendered on <body> to the number of images decoded (the browser test reads it)
CHECK_SCRIPT = ("addEventListener('load',function(){document.body.dataset.chartsRendered="
                "Array.prototype.filter.call(document.images,function(i){return i.complete&&i.naturalWidth>0}).length})")  # fmt: skip
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;padding:0 16px}
h1{font-size:22px} h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px} h3{font-size:16px;margin-top:28px;padding-top:8px;border-top:2px solid #2b6cb0} h4{font-size:13px;color:#444;margin:12px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5} .num{text-align:right;font-variant-numeric:tabular-nums} img{max-width:100%;border:1px solid #eee}
.note{background:#fff8e1;border-left:4px solid #f0a030;padding:6px 10px;margin:8px 0;font-size:13px}
.explain{color:#444;font-size:13px;max-width:1000px} pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;
padding:6px;margin:4px 0;max-height:260px;overflow:auto;font-size:12px} .meta{color:#555;font-size:12px}
.flag{color:#c0392b;font-weight:600}
"""
CHART_TEXT = {
    "reward": ("Reward, accuracy and format per step",
               "The mean reward verl trained on (score = accuracy weight × accuracy + format weight × format), and its two parts. "
               "A reward that climbs on format alone while accuracy stays flat is the model learning the tags, not the answers."),
    "by_verifier": ("Per verifier",
                    "Left: mean accuracy of the rows each verifier decided (judge = the LLM judge; judge>text = the judge failed and the "
                    "text rule fell back). Right: each verifier's share of the rows — a growing judge>… share means the judge is failing."),
    "by_category": ("Per category", "The same per row category (multiple choice, fill-in-the-blank, descriptive, …)."),
    "judge": ("The judge per step",
              "Share of rows per step whose accuracy a judge verdict decided, whose judge call failed, that a fallback decided, that the "
              "judge rescued, that timed out (a bounded verifier or the judge), and that could not be scored at all (errors)."),
    "hacking": ("Signs of reward hacking",
                "Answer length (characters of the response) and the share of rows with no readable answer, a hedge (several "
                "answers where one is asked) or a format failure. These usually move first when a policy starts gaming the "
                "reward. A red circle marks a step whose value moved more than max(5 points — 20 % for lengths —, 4 × the "
                "series' typical step-to-step change, 4 × a rate's sampling noise) away from the median of the 5 steps before it and "
                "from the step before (a new level is flagged where it starts)."),
}  # fmt: skip


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_num(v)}</td>' if i in numeric else f"<td>{esc(v)}</td>" for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(out: Path, name: str | None, alt: str) -> str:
    if not name:
        return f'<p class="meta">No {esc(alt)} chart: the sources do not carry these fields.</p>'
    data = base64.b64encode((out / name).read_bytes()).decode("ascii")
    return f'<p><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></p>'


def _sample_block(title: str, samples: list[dict]) -> str:
    if not samples:
        return ""
    parts = [f"<h4>{esc(title)}</h4>"]
    for s in samples:
        meta = (f"{s['split']} · step {s['step']} · score {_num(s['score'])} · accuracy {_num(s['accuracy'])} · "
                f"format {_num(s['format'])} · category {s['category'] or '–'} · status {s['status'] or '–'}")  # fmt: skip
        parts.append(f'<div class="meta">{esc(meta)}</div><div class="meta">reason: {esc(s["reason"] or "–")}'
                     f' · ground truth: {esc(s["ground_truth"] or "–")}</div><pre>{esc(s["response"])}</pre>')  # fmt: skip
    return "".join(parts)


def _samples_section(samples: dict[str, dict]) -> str:
    parts = []
    for verifier, s in sorted(samples.items()):
        parts.append(f"<h3>{esc(verifier)}</h3><p class='meta'>{s['failures']} rows below full accuracy</p>")
        parts.append(_sample_block("highest score", s["highest"]))
        parts.append(_sample_block("lowest score", s["lowest"]))
        for r in s["top_reasons"][:1]:
            parts.append(_sample_block(f"most common failure reason ({r['count']} rows): {r['reason']}", r["examples"]))
        if len(s["top_reasons"]) > 1:
            others = "; ".join(f"{r['reason']} ({r['count']})" for r in s["top_reasons"][1:])
            parts.append(f"<p class='meta'>next reasons: {esc(others)}</p>")
    return "".join(parts)


def _verifier_totals(series: dict[str, dict]) -> list[list[Any]]:
    rows = []
    for split, s in series.items():
        for name, g in sorted(s["by_verifier"].items()):
            n = sum(g["n"])
            weighted = [(a, k) for a, k in zip(g["accuracy"], g["n"]) if a is not None]
            acc = sum(a * k for a, k in weighted) / sum(k for _, k in weighted) if weighted else None
            rows.append([split, name, n, acc])
    return rows


def render(summary: dict[str, Any], charts: dict[str, str | None], out: Path) -> str:
    series, jumps = summary["series"], summary["jumps"]
    script_hash = base64.b64encode(hashlib.sha256(CHECK_SCRIPT.encode()).digest()).decode()
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'"
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{csp}">',
        f"<title>wethink-verl reward report: {esc(summary['run'])}</title><style>{CSS}</style><script>{CHECK_SCRIPT}</script></head><body>",
        f"<h1>Reward report: {esc(summary['run'])}</h1>",
        f"<p class='meta'>{summary['rows']} rows, {summary['bad_lines']} unreadable lines skipped · written by wethink-verl report</p>",
    ]
    split_rows = [[k, s["source"], len(s["steps"]), min(s["steps"], default=None), max(s["steps"], default=None),
                   sum(s["rows"]) if s["rows"] else "–"] for k, s in series.items()]  # fmt: skip
    parts.append(_table(["split", "from", "steps", "first step", "last step", "rows"], split_rows, {2, 3, 4, 5}))
    groups: dict[tuple[str, str, str], int] = {}
    for s in summary["sources"]:
        key = (str(Path(s["path"]).parent), s["kind"], s["split"])
        groups[key] = groups.get(key, 0) + 1
    parts.append(_table(["directory", "kind", "split", "files"], [[*k, n] for k, n in groups.items()], {3}))
    if summary["skipped"]:
        skipped = "".join(f"<li>{esc(s['path'])}: {esc(s['why'])}</li>" for s in summary["skipped"][:200])
        parts.append(f"<details><summary>{len(summary['skipped'])} files skipped</summary><ul>{skipped}</ul></details>")
    parts += [f'<div class="note">{esc(n)}</div>' for n in summary["notes"]]
    for key in ("reward", "by_verifier", "by_category", "judge", "hacking"):
        title, text = CHART_TEXT[key]
        parts.append(f"<h2>{esc(title)}</h2><p class='explain'>{esc(text)}</p>{_image(out, charts.get(key), title)}")
        if key == "by_verifier" and series:
            parts.append(_table(["split", "verifier", "rows", "mean accuracy"], _verifier_totals(series), {2, 3}))
        if key == "hacking":
            if jumps:
                rows = [[j["split"], LABELS.get(j["series"], j["series"]), j["step"], j["baseline"], j["value"]] for j in jumps]
                parts.append("<p class='flag'>Steps where a sign jumped:</p>")
                parts.append(_table(["split", "series", "step", "median of the 5 steps before", "value"], rows, {2, 3, 4}))
            else:
                parts.append("<p class='meta'>No step jumps flagged.</p>")
    parts.append("<h2>Sample responses per verifier</h2><p class='explain'>For each verifier: the highest- and lowest-scored rows "
                 "(later steps first among equals) and the most common reason rows fell short of full accuracy (quoted text and "
                 "numbers in reasons are blanked to … for counting). Responses over 4000 characters are cut.</p>")  # fmt: skip
    parts.append(_samples_section(summary["samples"]) or "<p class='meta'>No responses in these sources (metrics logs only).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
