"""The report's PNGs (matplotlib, Agg): one function per chart, each taking the finished series.

Every chart has the step on the x axis and one line per split (rollouts, validation, a metrics
log); a series the sources do not carry is left out rather than drawn as zero."""

from __future__ import annotations

from pathlib import Path
from typing import Any

JUDGE_RATES = ("judge_used", "judge_failed", "fallback", "judge_rescued", "timed_out", "error")
HACK_RATES = ("no_answer", "hedged", "format_failure")
LABELS = {
    "score": "reward (score)", "accuracy": "accuracy", "format": "format", "judge_used": "judge verdicts",
    "judge_failed": "judge failures", "fallback": "fallbacks", "judge_rescued": "judge rescues", "timed_out": "timeouts",
    "error": "errors", "no_answer": "no answer", "hedged": "hedges", "format_failure": "format failures",
    "length_mean": "mean length (chars)", "length_p90": "p90 length (chars)", "length_tokens_mean": "mean length (tokens, metrics log)",
}  # fmt: skip
STYLES = ("-", "--", ":", "-.")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line(ax, steps, values, label, style="-", color=None):
    xs = [s for s, v in zip(steps, values) if v is not None]
    ys = [v for v in values if v is not None]
    if not xs:
        return False
    ax.plot(xs, ys, style, marker="o" if len(xs) < 30 else None, markersize=3, label=label, color=color)
    return True


def _figure(rows: int, cols: int, **kw):
    """A figure of ``rows`` panel rows with fixed margins (tight_layout would draw it twice)."""
    height = 3.6 * rows
    fig, axes = _plt().subplots(rows, cols, figsize=(15, height), squeeze=False, **kw)
    fig.subplots_adjust(left=0.05, right=0.99, top=1 - 0.35 / height, bottom=0.55 / height, hspace=0.42, wspace=0.18)
    from matplotlib.ticker import MaxNLocator

    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    return fig, axes


def _finish(fig, path: Path) -> str:
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path.name


def reward_chart(series: dict[str, dict[str, Any]], path: Path) -> str:
    fig, axes = _figure(1, 3, sharex=True)
    for ax, name in zip(axes[0], ("score", "accuracy", "format")):
        drawn = False
        for k, (split, s) in enumerate(series.items()):
            drawn |= _line(ax, s["steps"], s["values"].get(name, []), split, STYLES[k % len(STYLES)])
        ax.set_title(f"mean {LABELS[name]} per step")
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(color="#eee")
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not in these sources", ha="center", transform=ax.transAxes, color="#888")
    return _finish(fig, path)


def group_chart(series: dict[str, dict[str, Any]], path: Path, attr: str, what: str) -> str | None:
    """Accuracy per step per group (verifier or category), and each group's share of the rows."""
    splits = [(k, s) for k, s in series.items() if s[attr]]
    if not splits:
        return None
    fig, axes = _figure(len(splits), 2)
    for (split, s), (ax, ax2) in zip(splits, axes):
        groups = sorted(s[attr])
        for name in groups:
            _line(ax, s["steps"], s[attr][name]["accuracy"], name)
        ax.set_title(f"{split}: mean accuracy per {what}")
        ax.set_ylim(-0.02, 1.02)
        shares = [s[attr][g]["share"] for g in groups]
        if len(s["steps"]) > 1:
            ax2.stackplot(s["steps"], shares, labels=groups, alpha=0.85)
        else:  # one step (a score file, a single validation): a stacked bar, since an area needs two
            bottom = 0.0
            for g, share in zip(groups, shares):
                ax2.bar(s["steps"], share, bottom=bottom, width=0.5, label=g, alpha=0.85)
                bottom += share[0]
        ax2.set_title(f"{split}: share of rows per {what}")
        ax2.set_ylim(0, 1)
        for a in (ax, ax2):
            a.set_xlabel("step")
            a.grid(color="#eee")
        ax.legend(fontsize=8, ncol=2)
        ax2.legend(fontsize=8, ncol=2, loc="lower left")
    return _finish(fig, path)


def rates_chart(series, path: Path, names, title: str, jumps=(), lengths: bool = False) -> str:
    """Per split: rates per step (and, for the hacking chart, answer lengths), jump steps marked."""
    fig, axes = _figure(len(series), 2 if lengths else 1)
    for (split, s), row in zip(series.items(), axes):
        ax = row[-1]
        drawn = [_line(ax, s["steps"], s["values"].get(n, []), LABELS[n]) for n in names]
        ax.set_title(f"{split}: {title}")
        ax.set_ylabel("share of rows")
        ax.set_ylim(-0.02, 1.02)
        if lengths:
            for n in ("length_mean", "length_p90", "length_tokens_mean"):
                drawn.append(_line(row[0], s["steps"], s["values"].get(n, []), LABELS[n]))
            row[0].set_title(f"{split}: answer length")
            row[0].set_ylim(bottom=0)
        for a in row:
            a.set_xlabel("step")
            a.grid(color="#eee")
            if a.get_legend_handles_labels()[0]:
                a.legend(fontsize=8)
        if not any(drawn):
            ax.text(0.5, 0.5, "not in these sources", ha="center", transform=ax.transAxes, color="#888")
        for j in (j for j in jumps if j["split"] == split):
            target = row[0] if j["series"].startswith("length") and lengths else ax
            target.axvline(j["step"], color="#c0392b", linewidth=1, alpha=0.6)
            target.plot([j["step"]], [j["value"]], "o", color="#c0392b", markersize=8, fillstyle="none")
            target.annotate(f"jump: {LABELS.get(j['series'], j['series'])}", (j["step"], j["value"]), fontsize=7,
                            color="#c0392b", xytext=(4, 6), textcoords="offset points")  # fmt: skip
    return _finish(fig, path)


def write_charts(series: dict[str, dict[str, Any]], jumps: list[dict], out: Path) -> dict[str, str | None]:
    """All charts into ``out``; returns chart name -> PNG file name (None when there was nothing to draw)."""
    return {
        "reward": reward_chart(series, out / "reward.png"),
        "by_verifier": group_chart(series, out / "by_verifier.png", "by_verifier", "verifier"),
        "by_category": group_chart(series, out / "by_category.png", "by_category", "category"),
        "judge": rates_chart(series, out / "judge.png", JUDGE_RATES, "judge use, failures, fallbacks, rescues, timeouts, errors"),
        "hacking": rates_chart(series, out / "hacking.png", HACK_RATES, "no-answer, hedge and format-failure rates", jumps, lengths=True),
    }
