"""What a ``prepare`` run counts, and the summary tables it prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..text_table import format_table
from .bad_rows import BadRowError
from .cleaning import split_abilities
from .row_builder import CleanRow

_SIZE_BUCKETS = ((0.1e6, "< 0.1 MP"), (0.5e6, "0.1-0.5 MP"), (1e6, "0.5-1 MP"), (4e6, "1-4 MP"), (float("inf"), ">= 4 MP"))
MAX_EXAMPLES = 5


@dataclass
class Stats:
    """Counts for the summary tables; bounded by the number of distinct values, not rows."""

    rows_in: int = 0
    written: Counter = field(default_factory=Counter)  # split -> rows
    category: Counter = field(default_factory=Counter)
    reward: Counter = field(default_factory=Counter)
    ability: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    skipped_examples: dict = field(default_factory=dict)  # reason -> [row indices]
    unknown: Counter = field(default_factory=Counter)  # "category=x" -> rows
    unknown_first: dict = field(default_factory=dict)  # "category=x" -> first row index
    notes: Counter = field(default_factory=Counter)
    image_buckets: Counter = field(default_factory=Counter)
    images: int = 0
    width_min: int | None = None
    width_max: int | None = None
    height_min: int | None = None
    height_max: int | None = None
    pixels_sum: int = 0

    def add(self, row: CleanRow, split: str) -> None:
        self.written[split] += 1
        self.category[row.category if row.category not in (None, "") else "(missing)"] += 1
        self.reward[row.reward if row.reward not in (None, "") else "(missing)"] += 1
        for a in split_abilities(row.abilities) or ["(missing)"]:
            self.ability[a] += 1
        for n in row.notes:
            self.notes[n] += 1
        for u in row.unknown:
            self.unknown[u] += 1
            self.unknown_first.setdefault(u, row.index)
        for size in row.image_sizes:
            if not size:
                continue
            w, h = size
            self.images += 1
            self.pixels_sum += w * h
            self.width_min = w if self.width_min is None else min(self.width_min, w)
            self.width_max = w if self.width_max is None else max(self.width_max, w)
            self.height_min = h if self.height_min is None else min(self.height_min, h)
            self.height_max = h if self.height_max is None else max(self.height_max, h)
            self.image_buckets[next(label for limit, label in _SIZE_BUCKETS if w * h < limit)] += 1

    def skip(self, err: BadRowError) -> None:
        self.skipped[err.reason] += 1
        examples = self.skipped_examples.setdefault(err.reason, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(err.index)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    def to_dict(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "written": dict(self.written),
            "skipped": dict(self.skipped),
            "skipped_examples": self.skipped_examples,
            "category": dict(self.category),
            "reward": dict(self.reward),
            "ability": dict(self.ability),
            "unknown_values": {k: {"rows": v, "first_row": self.unknown_first[k]} for k, v in self.unknown.items()},
            "cleaning": dict(self.notes),
            "images": {
                "checked": self.images,
                "width": [self.width_min, self.width_max],
                "height": [self.height_min, self.height_max],
                "mean_megapixels": round(self.pixels_sum / self.images / 1e6, 4) if self.images else None,
                "buckets": dict(self.image_buckets),
            },
        }

    def tables(self, title: str | None = None) -> str:
        def counted(counter: Counter, name: str, heading: str) -> str:
            total = sum(counter.values()) or 1
            rows = [[k, v, 100.0 * v / total] for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))]
            return format_table([name, "rows", "%"], rows, heading)

        parts = []
        overview = [["input rows", self.rows_in]]
        overview += [[f"written ({split})", n] for split, n in sorted(self.written.items())]
        overview += [["skipped", sum(self.skipped.values())]]
        parts.append(format_table(["", "rows"], overview, title))
        if self.total_written:
            parts.append(counted(self.category, "category", "rows per category"))
            parts.append(counted(self.reward, "reward", "rows per reward type"))
            parts.append(counted(self.ability, "ability", "rows per ability (a row counts once per ability)"))
        if self.skipped:
            rows = [[r, n, ", ".join(map(str, self.skipped_examples.get(r, [])))] for r, n in self.skipped.most_common()]
            parts.append(format_table(["reason", "rows", "first row indices"], rows, "skipped rows by reason"))
        if self.unknown:
            rows = [[k, v, self.unknown_first[k]] for k, v in self.unknown.most_common()]
            parts.append(
                format_table(["value", "rows", "first row"], rows, "values the reward router does not map (routed by the answer's shape)")
            )
        if self.notes:
            parts.append(format_table(["cleaning", "rows"], sorted(self.notes.items()), "cleaning applied"))
        if self.images:
            rows = [[label, self.image_buckets.get(label, 0)] for _, label in _SIZE_BUCKETS]
            head = (
                f"image sizes ({self.images} checked): width {self.width_min}-{self.width_max}, "
                f"height {self.height_min}-{self.height_max}, mean {self.pixels_sum / self.images / 1e6:.3f} MP"
            )
            parts.append(format_table(["size", "images"], rows, head))
        return "\n\n".join(parts)
