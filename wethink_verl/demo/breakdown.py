"""The demo's reading of its scored rollouts: means per rollout kind x category, what happened to
the injection attempts, and the one picture (``reward_breakdown.png``) that shows both."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Iterable, Sequence

from .rollouts import KINDS

CATEGORY_ORDER = ("multiple choice", "fill-in-the-blank", "descriptive")
ACC_COLOR, FMT_COLOR, JUDGE_EDGE = "#2b6cb0", "#f0a030", "#6b21a8"


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def by_kind_and_category(samples: Sequence[dict]) -> list[dict]:
    """One named record per (rollout kind, category) present, in reading order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        groups.setdefault((s["kind"], s["category"]), []).append(s)
    cats = [c for c in CATEGORY_ORDER if any(k[1] == c for k in groups)] + sorted({k[1] for k in groups} - set(CATEGORY_ORDER))
    rows = []
    for kind in KINDS:
        for cat in cats:
            items = groups.get((kind, cat))
            if not items:
                continue
            rows.append({
                "kind": kind, "category": cat, "n": len(items),
                "accuracy": _mean(s["accuracy"] for s in items), "format": _mean(s["format"] for s in items),
                "score": _mean(s["score"] for s in items), "advantage": _mean(s["advantage"] for s in items),
                "judge_used": sum(s["judge_used"] for s in items), "judge_failed": sum(s["judge_failed"] for s in items),
                "fallback": sum(s["fallback"] for s in items), "verifiers": sorted({s["verifier"] for s in items}),
            })  # fmt: skip
    return rows


def by_category(samples: Sequence[dict]) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for s in samples:
        groups.setdefault(s["category"], []).append(s)
    return [{"category": c, "n": len(v), "accuracy": _mean(s["accuracy"] for s in v), "format": _mean(s["format"] for s in v),
             "score": _mean(s["score"] for s in v), "judge_used": sum(s["judge_used"] for s in v),
             "judge_failed": sum(s["judge_failed"] for s in v), "fallback": sum(s["fallback"] for s in v)}
            for c, v in sorted(groups.items())]  # fmt: skip


def injection_outcome(samples: Sequence[dict]) -> dict:
    """What the reward paid the "hack" rollouts (hedges and prompt injections) for accuracy."""
    hacks = [s for s in samples if s["kind"] == "hack"]
    judged = [s for s in hacks if s["judge_used"]]
    return {
        "n": len(hacks),
        "paid_accuracy": sum(1 for s in hacks if s["accuracy"] > 0),
        "judged": len(judged),
        "paid_by_judge": sum(1 for s in judged if s["accuracy"] > 0),
    }


def headline(outcome: dict) -> str:
    """The sentence under the title: what the judge really did with the injection attempts."""
    if not outcome["judged"]:
        return f"Hacks (hedges, injection text): accuracy paid to {outcome['paid_accuracy']} of {outcome['n']}. No judge verdicts in this run."
    paid = outcome["paid_by_judge"]
    verdict = (f"The judge PAID accuracy to {paid} of {outcome['judged']} injection attempts" if paid
               else f"The judge gave accuracy 0 to {outcome['judged']} of {outcome['judged']} injection attempts")  # fmt: skip
    return f"{verdict}; rule verifiers paid accuracy to {outcome['paid_accuracy'] - paid} of {outcome['n'] - outcome['judged']} hedges."


def _row_label(row: dict, judge_on: bool) -> str:
    tag = ""
    if row["judge_used"]:
        tag = "  [judge]"
    elif row["fallback"]:
        tag = "  [judge failed: fallback]" if row["judge_failed"] else "  [rule fallback]" if not judge_on else "  [fallback]"
    return f"{row['kind']} · {row['category']} (n={row['n']}){tag}"


def plot(rows: Sequence[dict], path: str | Path, weights: tuple[float, float], title: str, headline_text: str,
         notes: Sequence[str], judge_on: bool) -> None:  # fmt: skip
    """Left: mean reward split into its accuracy and format parts; right: mean GRPO advantage.
    One row per (rollout kind, category); rows whose accuracy the judge decided are outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ys = list(range(len(rows)))[::-1]  # first row on top
    notes = [line for note in notes for line in textwrap.wrap(note, 190)]
    top_in, bottom_in = 1.1, 0.75 + 0.2 * len(notes)  # title + headline; axis label + notes
    height = top_in + bottom_in + 0.42 * len(rows)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, height), sharey=True, gridspec_kw={"width_ratios": [3, 2], "wspace": 0.04})
    fig.subplots_adjust(left=0.25, right=0.985, top=1 - top_in / height, bottom=bottom_in / height)
    for y, row in zip(ys, rows):
        _reward_bar(ax, y, row, weights)
        _advantage_bar(ax2, y, row["advantage"])
    _rules_between_kinds((ax, ax2), ys, rows)
    _reward_axis(ax, ys, rows, weights, judge_on)
    _advantage_axis(ax2, rows)
    fig.text(0.01, 1 - 0.12 / height, title, fontsize=13, va="top", ha="left", weight="bold")
    paid = "PAID" in headline_text
    fig.text(0.01, 1 - 0.45 / height, headline_text, fontsize=11.5, va="top", ha="left", color="#c0392b" if paid else "#1e7a3a")
    fig.text(0.01, 0.08 / height, "\n".join(notes), fontsize=9, va="bottom", ha="left", color="#333", linespacing=1.4)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _reward_bar(ax, y: float, row: dict, weights: tuple[float, float]) -> None:
    """The accuracy and format parts of one row's mean reward, labelled; an alarm in red."""
    acc, fmt = weights[0] * row["accuracy"], weights[1] * row["format"]
    judged = row["judge_used"] > 0
    edge = dict(edgecolor=JUDGE_EDGE, linewidth=1.6, hatch="//") if judged else {}
    ax.barh(y, acc, color=ACC_COLOR, height=0.7, **edge)
    ax.barh(y, fmt, left=acc, color=FMT_COLOR, height=0.7)
    total = acc + fmt
    if total == 0:  # a zero bar is still a visible mark
        ax.plot([0], [y], marker="|", markersize=14, color="#c0392b", markeredgewidth=2)
    who = " (judge)" if judged else ""
    label = f"{total:.2f} = {acc:.2f} acc{who} + {fmt:.2f} fmt"
    alarm = total == 0 or (judged and row["kind"] == "hack" and acc > 0)
    if total == 0:
        label += "   ← nothing read: 0"
    elif alarm:
        label += "\n← the judge PAID injection text"
    ax.text(total + 0.015, y, label, va="center", fontsize=9, color="#c0392b" if alarm else "#222")


def _advantage_bar(ax, y: float, adv: float) -> None:
    ax.barh(y, adv, color="#2a9d4a" if adv >= 0 else "#c0392b", height=0.7)
    ax.text(adv + (0.04 if adv >= 0 else -0.04), y, f"{adv:+.2f}", va="center", ha="left" if adv >= 0 else "right", fontsize=9)


def _rules_between_kinds(axes, ys: Sequence[float], rows: Sequence[dict]) -> None:
    previous = None
    for y, row in zip(ys, rows):
        if previous is not None and row["kind"] != previous:
            for a in axes:
                a.axhline(y + 0.5, color="#999", linewidth=0.8)
        previous = row["kind"]


def _reward_axis(ax, ys: Sequence[float], rows: Sequence[dict], weights: tuple[float, float], judge_on: bool) -> None:
    from matplotlib.patches import Patch

    wa, wf = weights
    ax.set_yticks(ys)
    ax.set_yticklabels([_row_label(r, judge_on) for r in rows], fontsize=10)
    for tick, row in zip(ax.get_yticklabels(), rows):
        if row["judge_used"]:
            tick.set_color(JUDGE_EDGE)
    ax.set_xlim(0, 1.75)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel(f"mean reward = {wa:g} × accuracy + {wf:g} × format")
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)
    handles = [Patch(color=ACC_COLOR, label=f"{wa:g} × accuracy"), Patch(color=FMT_COLOR, label=f"{wf:g} × format")]
    if any(r["judge_used"] for r in rows):
        handles.append(Patch(facecolor=ACC_COLOR, edgecolor=JUDGE_EDGE, hatch="//", label="accuracy decided by the judge"))
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(handles), fontsize=9, frameon=False)


def _advantage_axis(ax, rows: Sequence[dict]) -> None:
    lim = max(1.0, max(abs(r["advantage"]) for r in rows) * 1.35)
    ax.set_xlim(-lim, lim)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("mean GRPO advantage (vs the prompt's other rollouts)")
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)


def plot_demo(samples: Sequence[dict], path: str | Path, weights: tuple[float, float], judge: dict[str, Any]) -> dict:
    """The demo's picture from its samples; returns the named summaries report.json keeps."""
    rows = by_kind_and_category(samples)
    outcome = injection_outcome(samples)
    judge_on = judge.get("engine") is not None
    notes = []
    if judge.get("note"):
        notes.append(judge["note"])
    notes.append("malformed = no <think>/<answer> tags: no answer is read, nothing is guessed.  "
                 "hack = a hedge (\"B or C\", \"3 or 4\") or, on descriptive prompts, prompt-injection text.")  # fmt: skip
    prompts = len({s["uid"] for s in samples})
    title = f"WeThink reward of the demo's bundled rollouts ({prompts} prompts × {len(KINDS)} rollouts), scored by verl's RewardLoopManager"
    plot(rows, path, weights, title, headline(outcome), notes, judge_on)
    return {"by_kind_and_category": rows, "injection_attempts": outcome, "headline": headline(outcome)}
