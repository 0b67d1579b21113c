"""Verifier registry: public name -> function.

A verifier is ``fn(answer: str, ground_truth, **options) -> Verdict``. Built-in names are part of
the public API (``choice number math text yesno iou format``); users add their own with
``@register("name")`` or refer to any function as ``"package.module:function"``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .types import Verdict

VerifierFn = Callable[..., Verdict]


@dataclass(frozen=True)
class VerifierSpec:
    name: str
    fn: VerifierFn
    reads: str = "answer"  # "answer": the extracted answer; "response": the whole response
    # Built-ins are bounded by construction (capped input, linear scans) or isolate their own
    # expensive stage; anything else runs in the bounded worker pool unless told otherwise.
    isolate: bool = False
    # may wait on a worker process: async callers run it in a thread, not on the event loop
    blocking: bool = False

    @property
    def ref(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"


_REGISTRY: dict[str, VerifierSpec] = {}


def register(
    name: str, *, reads: str = "answer", isolate: bool = False, blocking: bool = False
) -> Callable[[VerifierFn], VerifierFn]:
    if reads not in ("answer", "response"):
        raise ValueError(f"reads must be 'answer' or 'response', not {reads!r}")

    def deco(fn: VerifierFn) -> VerifierFn:
        old = _REGISTRY.get(name)
        if old is not None and old.fn is not fn and old.ref != f"{fn.__module__}:{fn.__qualname__}":
            raise ValueError(f"verifier {name!r} is already registered to {old.ref}")
        _REGISTRY[name] = VerifierSpec(name, fn, reads, isolate, blocking or isolate)
        return fn

    return deco


def _load_builtins() -> None:
    # importing the package registers every built-in module
    importlib.import_module("wethink_verl.verifiers")


def get_verifier(name: str) -> VerifierSpec:
    """A registered name, or ``"pkg.module:function"`` for any importable verifier (run isolated)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise KeyError(f"cannot import verifier {name!r}: {e}") from e
        if not callable(fn):
            raise KeyError(f"verifier {name!r} is not callable")
        spec = VerifierSpec(name, fn, "answer", isolate=True, blocking=True)
        _REGISTRY[name] = spec
        return spec
    raise KeyError(f"unknown verifier {name!r}; known: {', '.join(available())}")


def available() -> list[str]:
    _load_builtins()
    return sorted(n for n in _REGISTRY if ":" not in n)
