"""WeThink records: schema, cleaning, validation, and the verl / EasyR1 / SFT row shapes.

Pure Python + Pillow: no verl, torch or Ray, so ``prepare`` starts fast and its worker processes
stay small. ``dataset.WeThinkDataset`` builds its rows with the same functions, so a prepared
parquet file and the dataset class can never disagree.

A WeThink record (release: one JSON object per line)::

    {"problem", "answer", "category", "abilities", "refined_cot", "image_path", "reward"}

What cleaning does, and nothing more (the record is otherwise passed on untouched):

- ``answer``: the content of its last complete ``<answer>…</answer>`` block if it has one, then
  any remaining ``<think>``/``<answer>`` tags removed (their text kept); whitespace normalised.
- ``refined_cot``: complete ``<answer>…</answer>`` blocks removed (the answer is its own field),
  then the tags removed; whitespace normalised.
- ``problem``: whitespace normalised; for the *prompt* only, literal media placeholders
  (``<image>``, ``<video>``, ``<audio>``) and literal chat special tokens (``<|image_pad|>``,
  ``<|vision_start|>``, …) are escaped as ``&lt;image&gt;`` etc. — verl, EasyR1 and LLaMA-Factory
  count placeholders against images, and a literal ``<|image_pad|>`` becomes an image token —
  then one real ``<image>`` per image is put in front. ``extra_info.problem`` keeps the text
  unescaped (the judge reads it).
- Whitespace normalisation: CRLF/CR to LF, trailing spaces on each line dropped, three or more
  newlines collapsed to two, ends stripped.

A row that cannot become a training example raises :class:`BadRowError` naming its index and
one of the :class:`Reason` strings; ``--skip-bad`` counts these instead.
"""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..lru_cache import LRU
from ..rows import RECORD_FIELDS, STYLE_MODEL, STYLE_RULE, WETHINK_SYSTEM_PROMPT, pack_ground_truth, routing_key, routing_values  # noqa: F401
SYSTEM_PROMPT_MODES = ("system", "user", "none")
# decode: JPEG decoded (at 1/8 scale), PNG chunk CRCs verified to the end, other formats decoded;
# header: opened, size read; exists: a stat
IMAGE_CHECKS = ("decode", "header", "exists")
# EasyR1's format prompts append the instruction to the user turn after one space
USER_PROMPT_JOINER = " "


class Reason:
    """Why a row was rejected. The strings are stable: summaries and tests key on them."""

    INVALID_JSON = "invalid json"
    NOT_AN_OBJECT = "not an object"
    EMPTY_PROBLEM = "empty problem"
    MISSING_ANSWER = "missing answer"
    EMPTY_ANSWER = "empty answer"
    INVALID_ANSWER = "invalid answer"
    MISSING_IMAGE_PATH = "missing image_path"
    MISSING_IMAGE = "missing image"
    CORRUPT_IMAGE = "corrupt image"
    OUTSIDE_IMAGE_ROOT = "image outside the image root"
    UNKNOWN_CATEGORY = "unknown category"
    UNKNOWN_REWARD = "unknown reward"
    EMPTY_COT = "empty refined_cot"

    ALL = (
        INVALID_JSON, NOT_AN_OBJECT, EMPTY_PROBLEM, MISSING_ANSWER, EMPTY_ANSWER, INVALID_ANSWER,
        MISSING_IMAGE_PATH, MISSING_IMAGE, CORRUPT_IMAGE, OUTSIDE_IMAGE_ROOT, UNKNOWN_CATEGORY, UNKNOWN_REWARD, EMPTY_COT,
    )  # fmt: skip


class BadRowError(ValueError):
    """A row that cannot be used: its 0-based index in the input, the reason and a detail."""

    def __init__(self, index: int, reason: str, detail: str = "", line: int | None = None, source: str | None = None):
        self.index, self.reason, self.detail, self.line, self.source = index, reason, detail, line, source
        super().__init__(str(self))

    def where(self) -> str:
        where = f"row {self.index}" + (f" (line {self.line})" if self.line is not None else "")
        return f"{self.source}: {where}" if self.source else where

    def __str__(self) -> str:
        return f"{self.where()}: {self.reason}" + (f": {self.detail}" if self.detail else "")

    def __reduce__(self):  # picklable across worker processes
        return (BadRowError, (self.index, self.reason, self.detail, self.line, self.source))


# ---- text cleaning ------------------------------------------------------------------------------
_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.IGNORECASE)
_ANSWER_BLOCK = re.compile(r"<\s*answer\s*>(.*?)<\s*/\s*answer\s*>", re.IGNORECASE | re.DOTALL)
_TRAILING_SPACE = re.compile(r"[ \t\f\v]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# what verl (<image>|<video>|<audio>), EasyR1 and LLaMA-Factory split on, and chat special tokens
# such as <|image_pad|> that a tokenizer would turn into real image tokens
_MEDIA_LITERAL = re.compile(r"<(?:image|video|audio)>|<\|[A-Za-z0-9_]+\|>")


def normalize_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def clean_answer(text: str) -> str:
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        text = blocks[-1]
    return normalize_whitespace(_TAG.sub("", text))


def clean_cot(text: str) -> str:
    return normalize_whitespace(_TAG.sub("", _ANSWER_BLOCK.sub("", text)))


def escape_media_literals(text: str) -> tuple[str, int]:
    """``<image>`` -> ``&lt;image&gt;`` (and the same for the other media tags and ``<|…|>`` tokens)."""
    count = 0

    def sub(m: re.Match) -> str:
        nonlocal count
        count += 1
        return "&lt;" + m.group(0)[1:-1] + "&gt;"

    return _MEDIA_LITERAL.sub(sub, text), count


def has_tags(text: str) -> bool:
    return _TAG.search(text) is not None


def split_abilities(abilities: Any) -> list[str]:
    """For the summary only: "Recognition, OCR & Reasoning" -> ["recognition", "ocr", "reasoning"]."""
    if abilities is None:
        return []
    items = abilities if isinstance(abilities, (list, tuple)) else re.split(r"[,;/|&]|\band\b", str(abilities))
    return [s for s in (str(i).strip().lower() for i in items) if s]


# ---- options ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowOptions:
    image_root: str = "."
    system_prompt: str = "system"  # system | user | none
    system_prompt_text: str = WETHINK_SYSTEM_PROMPT
    data_source: str = "wethink"
    image_paths: str = "absolute"  # absolute | relative (as in the record)
    image_check: str = "decode"  # decode | header | exists
    embed_images: bool = False  # image bytes in the row (only files that decode as images)
    allow_outside_root: bool = False  # image paths may resolve outside image_root (symlinks included)
    on_unknown: str = "keep"  # keep | reject: a category/reward value the reward router does not map
    need_cot: bool = False  # sft: the CoT is the target
    sft_target: str = "think-answer"  # think-answer | cot
    routing: Mapping[str, Any] | None = None  # reward routing tables; None: the reward defaults

    def __post_init__(self):
        checks = {
            "system_prompt": SYSTEM_PROMPT_MODES, "image_paths": ("absolute", "relative"),
            "image_check": IMAGE_CHECKS, "on_unknown": ("keep", "reject"), "sft_target": ("think-answer", "cot"),
        }  # fmt: skip
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")


# ---- images -------------------------------------------------------------------------------------
class ImageProblem(Exception):
    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class ImageChecker:
    """Resolves an ``image_path`` against the image root and checks it (results cached: rows of
    the release share images). By default a path must stay inside the root once resolved —
    ``..``, absolute paths, ``~`` and symlinks included — so a crafted record cannot make
    ``prepare`` read (and ``--embed-images`` copy) any other file; ``allow_outside_root`` lifts it."""

    def __init__(self, image_root: str, mode: str = "decode", cache_size: int = 65536, allow_outside_root: bool = False):
        if mode not in IMAGE_CHECKS:
            raise ValueError(f"image_check must be one of {IMAGE_CHECKS}, got {mode!r}")
        self.image_root = os.path.abspath(os.path.expanduser(image_root))
        self._real_root = os.path.realpath(self.image_root)
        self.mode = mode
        self.allow_outside_root = allow_outside_root
        self._cache = LRU(cache_size)

    def resolve(self, rel: str) -> str:
        """The absolute path a record's ``image_path`` names (``~`` is a name, not home, when confined)."""
        if self.allow_outside_root:
            rel = os.path.expanduser(rel)
        return os.path.normpath(os.path.join(self.image_root, rel))

    def _outside(self, path: str) -> ImageProblem | None:
        if self.allow_outside_root:
            return None
        real = os.path.realpath(path)
        if real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep):
            return None
        via = f" (via {path})" if real != path else ""
        return ImageProblem(Reason.OUTSIDE_IMAGE_ROOT, f"{real}{via} is outside {self._real_root} (pass --allow-images-outside-root to allow it)")

    def locate(self, rel: str) -> str:
        """The path of an existing image inside the root (not cached: before reading its bytes)."""
        path = self.resolve(rel)
        problem = self._outside(path) or self._check(path, "exists")
        if problem is not None:
            raise problem
        return path

    def check(self, rel: str, data: bytes | None = None) -> tuple[str, tuple[int, int] | None]:
        """(absolute path, (width, height) or None in ``exists`` mode); raises ImageProblem.
        With ``data`` (the bytes to embed, read from ``locate``'s path) those bytes must decode
        as an image, whatever the mode."""
        path = self.resolve(rel)
        key = (path, data is not None)
        hit = self._cache.get(key)
        if hit is None:
            if data is not None:
                hit = _inspect_image(io.BytesIO(data), path, "decode")
            else:
                hit = self._outside(path) or self._check(path, self.mode)
            self._cache.put(key, hit)
        if isinstance(hit, ImageProblem):
            raise hit
        return path, hit

    def _check(self, path: str, mode: str):
        if not os.path.isfile(path):
            return ImageProblem(Reason.MISSING_IMAGE, f"{path} does not exist (image root {self.image_root})")
        if mode == "exists":
            return None
        return _inspect_image(path, path, mode)


def _inspect_image(source, label: str, mode: str):
    """(width, height), or an ImageProblem; ``source`` is a path or a binary file object."""
    from PIL import Image

    try:
        with Image.open(source) as im:
            size = im.size
            if mode == "decode":
                if im.format == "PNG":
                    # every chunk read to IEND and its CRC checked: catches truncation and bit
                    # rot ~300x faster than inflating a document-sized page
                    im.verify()
                else:
                    if im.format == "JPEG":
                        # decode at 1/8 scale: the entropy-coded data is still read to the end
                        im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                    im.load()
    except Exception as e:  # UnidentifiedImageError, OSError("image file is truncated"), bombs, …
        return ImageProblem(Reason.CORRUPT_IMAGE, f"{label}: {type(e).__name__}: {e}")
    return (int(size[0]), int(size[1]))


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ImageProblem(Reason.MISSING_IMAGE, f"{path}: {e}") from None


# ---- one record -> one clean row ----------------------------------------------------------------
@dataclass
class CleanRow:
    index: int
    problem: str  # cleaned, unescaped (extra_info / judge)
    prompt_text: str  # escaped, with one <image> per image in front (the user turn)
    answer: str
    cot: str | None
    category: str | None
    reward: str | None
    abilities: str | None
    image_paths: list[str]  # as in the record (relative to the image root)
    image_files: list[str]  # absolute paths
    image_sizes: list[tuple[int, int] | None]
    image_bytes: list[bytes] | None = None
    style: str = STYLE_RULE
    notes: list[str] = field(default_factory=list)  # cleaning actions, for the summary
    unknown: list[str] = field(default_factory=list)  # "category=essay", "reward=…"

    def image_refs(self, mode: str) -> list[str]:
        return list(self.image_files if mode == "absolute" else self.image_paths)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"  # a JSON boolean; the yes/no verifier reads it
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return None


def _optional_field(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


class RowBuilder:
    """Turns raw records into :class:`CleanRow` (raises :class:`BadRowError`)."""

    def __init__(self, opts: RowOptions, source: str | None = None):
        self.opts = opts
        self.source = source
        self.checker = ImageChecker(opts.image_root, opts.image_check, allow_outside_root=opts.allow_outside_root)
        routing = routing_values(opts.routing)
        self.known_categories, self.known_rewards, self.judged_rewards = routing.categories, routing.rewards, routing.judged_rewards

    def bad(self, index: int, reason: str, detail: str = "", line: int | None = None) -> BadRowError:
        return BadRowError(index, reason, detail, line, self.source)

    def build(self, record: Any, index: int, line: int | None = None) -> CleanRow:
        opts = self.opts
        if not isinstance(record, dict):
            raise self.bad(index, Reason.NOT_AN_OBJECT, f"a JSON {type(record).__name__}", line)
        notes: list[str] = []

        raw_problem = record.get("problem")
        if not isinstance(raw_problem, str):
            detail = "field missing" if raw_problem is None else f"not a string ({type(raw_problem).__name__})"
            raise self.bad(index, Reason.EMPTY_PROBLEM, detail, line)
        problem = normalize_whitespace(raw_problem)
        if problem != raw_problem:
            notes.append("problem whitespace normalised")
        if not problem:
            raise self.bad(index, Reason.EMPTY_PROBLEM, "blank after cleaning", line)

        if "answer" not in record or record["answer"] is None:
            raise self.bad(index, Reason.MISSING_ANSWER, "field missing" if "answer" not in record else "null", line)
        raw_answer = _as_text(record["answer"])
        if raw_answer is None:
            raise self.bad(index, Reason.INVALID_ANSWER, f"a JSON {type(record['answer']).__name__}, not text", line)
        answer = clean_answer(raw_answer)
        if has_tags(raw_answer):
            notes.append("answer tags stripped")
        if not answer:
            raise self.bad(index, Reason.EMPTY_ANSWER, f"{raw_answer!r} is empty after stripping tags", line)

        category, reward = _optional_field(record.get("category")), _optional_field(record.get("reward"))
        unknown = []
        if category not in (None, "") and routing_key(category) not in self.known_categories:
            unknown.append(f"category={category}")
            if opts.on_unknown == "reject":
                raise self.bad(index, Reason.UNKNOWN_CATEGORY, f"{category!r} is not in the reward routing table", line)
        if reward not in (None, "") and routing_key(reward) not in self.known_rewards:
            unknown.append(f"reward={reward}")
            if opts.on_unknown == "reject":
                raise self.bad(index, Reason.UNKNOWN_REWARD, f"{reward!r} is not in the reward routing table", line)

        cot = None
        raw_cot = record.get("refined_cot")
        if isinstance(raw_cot, str):
            cot = clean_cot(raw_cot)
            if has_tags(raw_cot):
                notes.append("cot tags stripped")
        if opts.need_cot and not cot:
            raise self.bad(index, Reason.EMPTY_COT, "missing" if raw_cot is None else "empty after stripping tags", line)

        raw_paths = record.get("image_path")
        paths = [raw_paths] if isinstance(raw_paths, str) else raw_paths
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise self.bad(index, Reason.MISSING_IMAGE_PATH, f"image_path is {raw_paths!r}", line)
        files, sizes, blobs = [], [], [] if opts.embed_images else None
        for rel in paths:
            try:
                if blobs is not None:  # confined and present before a byte is read; embedded only if an image
                    blobs.append(_read_bytes(self.checker.locate(rel)))
                    path, size = self.checker.check(rel, blobs[-1])
                else:
                    path, size = self.checker.check(rel)
            except ImageProblem as p:
                raise self.bad(index, p.reason, p.detail, line) from None
            files.append(path)
            sizes.append(size)

        escaped, n_escaped = escape_media_literals(problem)
        if n_escaped:
            notes.append("media literals escaped")
        prompt_text = "<image>" * len(paths) + escaped
        if opts.system_prompt == "user":
            prompt_text = prompt_text + USER_PROMPT_JOINER + opts.system_prompt_text

        judged = reward is not None and routing_key(reward) in self.judged_rewards
        return CleanRow(
            index=index, problem=problem, prompt_text=prompt_text, answer=answer, cot=cot,
            category=category, reward=reward, abilities=_optional_field(record.get("abilities")),
            image_paths=list(paths), image_files=files, image_sizes=sizes, image_bytes=blobs,
            style=STYLE_MODEL if judged else STYLE_RULE, notes=notes, unknown=unknown,
        )  # fmt: skip


# ---- output rows --------------------------------------------------------------------------------
def verl_messages(row: CleanRow, opts: RowOptions) -> list[dict]:
    messages = []
    if opts.system_prompt == "system":
        messages.append({"role": "system", "content": opts.system_prompt_text})
    messages.append({"role": "user", "content": row.prompt_text})
    return messages


def verl_row(row: CleanRow, opts: RowOptions, split: str) -> dict:
    """One row in verl's RLHFDataset schema (geo3k layout + WeThink routing fields)."""
    if row.image_bytes is not None:
        images: list = [{"bytes": b, "path": p} for b, p in zip(row.image_bytes, row.image_paths)]
    else:
        images = row.image_refs(opts.image_paths)
    size = row.image_sizes[0] if row.image_sizes and row.image_sizes[0] else None
    return {
        "data_source": opts.data_source,
        "prompt": verl_messages(row, opts),
        "images": images,
        "ability": row.abilities or "",
        "reward_model": {"style": row.style, "ground_truth": row.answer},
        "extra_info": {
            "reward": row.reward,
            "category": row.category,
            "abilities": row.abilities,
            "problem": row.problem,
            "image_path": row.image_paths[0],
            "image_size": list(size) if size else None,
            "index": row.index,
            "split": split,
        },
    }


def easyr1_row(row: CleanRow, opts: RowOptions) -> dict:
    """EasyR1: ``problem`` (the format_prompt template adds the instruction), ``answer`` (the packed
    ground truth our EasyR1 reward file unpacks), ``images``. Nothing list-valued besides images:
    EasyR1 collates every extra column into a numpy object array."""
    packed = pack_ground_truth(
        row.answer, category=row.category, reward=row.reward, problem=row.problem, image_path=row.image_paths[0]
    )
    return {"problem": row.prompt_text, "answer": packed, "images": row.image_refs(opts.image_paths)}


def sft_target(row: CleanRow, opts: RowOptions) -> str:
    if opts.sft_target == "cot":
        return row.cot or ""
    return f"<think>\n{row.cot}\n</think>\n<answer>\n{row.answer}\n</answer>"


def sft_row(row: CleanRow, opts: RowOptions) -> dict:
    """LLaMA-Factory sharegpt (the WeThink README's SFT format). LLaMA-Factory counts ``<image>``
    in every message against ``images``, so the target is escaped too."""
    target, _ = escape_media_literals(sft_target(row, opts))
    out = {
        "conversations": [{"from": "human", "value": row.prompt_text}, {"from": "gpt", "value": target}],
        "images": row.image_refs(opts.image_paths),
    }
    if opts.system_prompt == "system":
        out["system"] = opts.system_prompt_text
    return out


# ---- summary ------------------------------------------------------------------------------------
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
        from ..text_table import format_table

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
