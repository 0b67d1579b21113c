"""Verifier registry: public name -> function.

A verifier is ``fn(answer: str, ground_truth, **options) -> Verdict``. Built-in names are part of
the public API (``choice number math text yesno iou format``); users add their own with
``@register("name")`` or refer to any function as ``"package.module:function"``.

A verifier that declares its options (``register(..., options=NumberOptions)``, a frozen
``VerifierOptions`` dataclass) gets them checked up front: ``validate_options(name, options)``
raises ``ValueError`` naming the option and its allowed range, and the verifier itself builds the
same dataclass on every call, so a bad per-row ``verifier_kwargs`` is that row's ``error``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .options import VerifierOptions
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
    options: type[VerifierOptions] | None = None  # its options dataclass, when it declares one

    @property
    def ref(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"


_REGISTRY: dict[str, VerifierSpec] = {}


def register(
    name: str,
    *,
    reads: str = "answer",
    isolate: bool = False,
    blocking: bool = False,
    options: type[VerifierOptions] | None = None,
) -> Callable[[VerifierFn], VerifierFn]:
    if reads not in ("answer", "response"):
        raise ValueError(f"reads must be 'answer' or 'response', not {reads!r}")

    def deco(fn: VerifierFn) -> VerifierFn:
        old = _REGISTRY.get(name)
        if old is not None and old.fn is not fn and old.ref != f"{fn.__module__}:{fn.__qualname__}":
            raise ValueError(f"verifier {name!r} is already registered to {old.ref}")
        _REGISTRY[name] = VerifierSpec(name, fn, reads, isolate, blocking or isolate, options)
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


def validate_options(name: str, options: Mapping[str, Any] | None) -> VerifierOptions | None:
    """Check a verifier's options up front; the built options, or None for a verifier that declares none.

    Raises ``ValueError`` for an unknown verifier, an unknown option, or a value outside the
    option's allowed range (the message names the option and the range), e.g.
    ``validate_options("iou", {"iou_threshold": -1})`` ->
    ``iou option iou_threshold=-1 is not allowed: allowed null or a finite number in (0, 1]``.
    """
    try:
        spec = get_verifier(name)
    except KeyError as e:
        raise ValueError(str(e).strip("'\"")) from e
    if options is not None and not isinstance(options, Mapping):
        raise ValueError(f"options of verifier {name!r} must be a mapping, not {type(options).__name__}")
    if spec.options is None:
        return None
    return spec.options.parse(options)


def validate_verifier_config(config: Mapping[str, Any]) -> None:
    """Validate a reward config's ``verifiers.<name>`` sections (and ``format`` for the built-in
    format check) against the verifier each name resolves to through ``aliases``."""
    aliases = config.get("aliases") or {}
    for name, options in (config.get("verifiers") or {}).items():
        target = aliases.get(name, name)
        try:
            validate_options(target, options)
        except ValueError as e:
            raise ValueError(f"verifiers.{name}: {e}") from None
    if config.get("format_rule", "wethink") in ("wethink", "format"):
        try:
            validate_options("format", config.get("format"))
        except ValueError as e:
            raise ValueError(f"format: {e}") from None
