"""One WeThink record -> one :class:`CleanRow` (cleaned, checked, its images located), with the
options of a run (:class:`RowOptions`); raises :class:`BadRowError` naming the row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..rows import STYLE_MODEL, STYLE_RULE, WETHINK_SYSTEM_PROMPT, routing_key, routing_values
from .bad_rows import BadRowError, Reason
from .cleaning import clean_answer, clean_cot, escape_media_literals, has_tags, normalize_whitespace
from .images import IMAGE_CHECKS, ImageChecker, ImageProblem, read_bytes
from .readers import RawRow

SYSTEM_PROMPT_MODES = ("system", "user", "none")
# EasyR1's format prompts append the instruction to the user turn after one space
USER_PROMPT_JOINER = " "


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
        """One record -> one CleanRow, field by field in this order; the first problem raises
        :class:`BadRowError` naming the row."""
        if not isinstance(record, dict):
            raise self.bad(index, Reason.NOT_AN_OBJECT, f"a JSON {type(record).__name__}", line)
        notes: list[str] = []  # cleaning actions, for the summary
        try:
            problem = self._problem(record, notes)
            answer = self._answer(record, notes)
            category, reward, unknown = self._routing_fields(record)
            cot = self._cot(record, notes)
            paths, files, sizes, blobs = self._images(record)
        except (_Rejected, ImageProblem) as p:
            raise self.bad(index, p.reason, p.detail, line) from None
        judged = reward is not None and routing_key(reward) in self.judged_rewards
        return CleanRow(
            index=index, problem=problem, prompt_text=self._prompt_text(problem, len(paths), notes), answer=answer, cot=cot,
            category=category, reward=reward, abilities=_optional_field(record.get("abilities")),
            image_paths=paths, image_files=files, image_sizes=sizes, image_bytes=blobs,
            style=STYLE_MODEL if judged else STYLE_RULE, notes=notes, unknown=unknown,
        )  # fmt: skip

    def _problem(self, record: dict, notes: list[str]) -> str:
        raw = record.get("problem")
        if not isinstance(raw, str):
            raise _Rejected(Reason.EMPTY_PROBLEM, "field missing" if raw is None else f"not a string ({type(raw).__name__})")
        problem = normalize_whitespace(raw)
        if problem != raw:
            notes.append("problem whitespace normalised")
        if not problem:
            raise _Rejected(Reason.EMPTY_PROBLEM, "blank after cleaning")
        return problem

    def _answer(self, record: dict, notes: list[str]) -> str:
        if "answer" not in record or record["answer"] is None:
            raise _Rejected(Reason.MISSING_ANSWER, "field missing" if "answer" not in record else "null")
        raw = _as_text(record["answer"])
        if raw is None:
            raise _Rejected(Reason.INVALID_ANSWER, f"a JSON {type(record['answer']).__name__}, not text")
        answer = clean_answer(raw)
        if has_tags(raw):
            notes.append("answer tags stripped")
        if not answer:
            raise _Rejected(Reason.EMPTY_ANSWER, f"{raw!r} is empty after stripping tags")
        return answer

    def _routing_fields(self, record: dict) -> tuple[str | None, str | None, list[str]]:
        """(category, reward, the values the routing tables do not map: "category=essay", …)."""
        category, reward = _optional_field(record.get("category")), _optional_field(record.get("reward"))
        unknown = []
        if category not in (None, "") and routing_key(category) not in self.known_categories:
            unknown.append(f"category={category}")
            if self.opts.on_unknown == "reject":
                raise _Rejected(Reason.UNKNOWN_CATEGORY, f"{category!r} is not in the reward routing table")
        if reward not in (None, "") and routing_key(reward) not in self.known_rewards:
            unknown.append(f"reward={reward}")
            if self.opts.on_unknown == "reject":
                raise _Rejected(Reason.UNKNOWN_REWARD, f"{reward!r} is not in the reward routing table")
        return category, reward, unknown

    def _cot(self, record: dict, notes: list[str]) -> str | None:
        cot = None
        raw = record.get("refined_cot")
        if isinstance(raw, str):
            cot = clean_cot(raw)
            if has_tags(raw):
                notes.append("cot tags stripped")
        if self.opts.need_cot and not cot:
            raise _Rejected(Reason.EMPTY_COT, "missing" if raw is None else "empty after stripping tags")
        return cot

    def _images(self, record: dict) -> tuple[list[str], list[str], list, list[bytes] | None]:
        """(image_path as in the record, absolute paths, sizes, the bytes when embedded); raises ImageProblem."""
        raw = record.get("image_path")
        paths = [raw] if isinstance(raw, str) else raw
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise _Rejected(Reason.MISSING_IMAGE_PATH, f"image_path is {raw!r}")
        files, sizes, blobs = [], [], [] if self.opts.embed_images else None
        for rel in paths:
            if blobs is not None:  # confined and present before a byte is read; embedded only if an image
                blobs.append(read_bytes(self.checker.locate(rel)))
                path, size = self.checker.check(rel, blobs[-1])
            else:
                path, size = self.checker.check(rel)
            files.append(path)
            sizes.append(size)
        return list(paths), files, sizes, blobs

    def _prompt_text(self, problem: str, n_images: int, notes: list[str]) -> str:
        """The user turn: one ``<image>`` per image, then the problem with its media literals escaped."""
        escaped, n_escaped = escape_media_literals(problem)
        if n_escaped:
            notes.append("media literals escaped")
        prompt_text = "<image>" * n_images + escaped
        if self.opts.system_prompt == "user":
            prompt_text = prompt_text + USER_PROMPT_JOINER + self.opts.system_prompt_text
        return prompt_text


class _Rejected(Exception):
    """A field that makes the record unusable (``RowBuilder.build`` names the row)."""

    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


# ---- many records, in input order: in process, or in worker processes -----------------------------
def _build_one(builder: RowBuilder, raw: RawRow) -> CleanRow | BadRowError:
    if raw.error is not None:
        return builder.bad(raw.index, Reason.INVALID_JSON, raw.error, raw.line)
    try:
        return builder.build(raw.record, raw.index, raw.line)
    except BadRowError as e:
        return e


_WORKER_BUILDER: RowBuilder | None = None


def _init_worker(opts: RowOptions, source: str | None) -> None:
    global _WORKER_BUILDER
    _WORKER_BUILDER = RowBuilder(opts, source)


def _work(batch: list[RawRow]) -> list[CleanRow | BadRowError]:
    assert _WORKER_BUILDER is not None
    return [_build_one(_WORKER_BUILDER, raw) for raw in batch]


def _batches(raws: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    for raw in raws:
        batch.append(raw)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_rows(
    raws: Iterator[RawRow], opts: RowOptions, source: str | None = None, workers: int = 1, batch_size: int = 128
) -> Iterator[CleanRow | BadRowError]:
    """Clean rows in input order. ``workers > 1`` checks images in that many spawned processes
    (``workers.OrderedPool``: two batches in flight per worker; stopped within a bound on any exit)."""
    if workers <= 1:
        builder = RowBuilder(opts, source)
        for raw in raws:
            yield _build_one(builder, raw)
        return

    from .workers import OrderedPool

    pool = OrderedPool(workers, _work, _init_worker, (opts, source))
    finished = False
    try:
        for results in pool.map(_batches(raws, batch_size)):
            yield from results
        finished = True
    finally:
        pool.close(graceful=finished)
