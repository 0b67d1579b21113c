"""Why a record cannot become a training row: the :class:`Reason` strings and :class:`BadRowError`
(raised naming the row, or counted with ``--skip-bad``)."""

from __future__ import annotations

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
