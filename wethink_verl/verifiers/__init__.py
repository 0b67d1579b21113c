"""Rule-based verifiers: pure functions ``fn(answer, ground_truth, **options) -> Verdict``.

Importing this package registers the built-ins: choice, number, math, text, ocr, yesno, iou, format.
Nothing here imports verl, Ray or torch; sympy is imported only inside bounded worker processes.
"""

from . import choice, format, iou, math, number, text, yesno  # noqa: F401  (registration)
from .extract import Extraction, answer_only, extract_answer, last_boxed
from .format import check_format
from .registry import VerifierSpec, available, get_verifier, register
from .types import Verdict

BUILTIN_VERIFIERS = ("choice", "number", "math", "text", "ocr", "yesno", "iou", "format")

__all__ = [
    "BUILTIN_VERIFIERS",
    "Extraction",
    "Verdict",
    "VerifierSpec",
    "answer_only",
    "available",
    "check_format",
    "extract_answer",
    "get_verifier",
    "last_boxed",
    "register",
]
