"""Verifier options as frozen dataclasses, validated when built (Math-Verify's config style).

Each verifier declares its options once::

    @dataclass(frozen=True)
    class NumberOptions(VerifierOptions):
        verifier: ClassVar[str] = "number"
        rel_tol: float = option(1e-6, Range(0.0, 1.0, hi_open=True))

and reads them with ``NumberOptions.of(kwargs)``. A bad value is a ``ValueError`` naming the
verifier, the option, the value and the allowed range; an unknown option is a ``ValueError``
listing the known ones. Built options are cached per distinct kwargs (they are frozen, hence
usable as cache keys), so validating on every call costs one dict lookup.

>>> NumberOptions.of({"rel_tol": float("nan")})
Traceback (most recent call last):
ValueError: number option rel_tol=nan is not allowed: allowed a finite number in [0, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

_CACHE_SIZE = 512


@dataclass(frozen=True)
class Range:
    """A finite number (``integer``: an int) in [lo, hi], each end optionally open or absent."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    nullable: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.lo is not None and self.hi is not None:
            where = f" in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            where = f" {'>' if self.lo_open else '>='} {_num(self.lo)}"
        elif self.hi is not None:
            where = f" {'<' if self.hi_open else '<='} {_num(self.hi)}"
        else:
            where = ""
        return ("null or " if self.nullable else "") + kind + where

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return False
        return True


@dataclass(frozen=True)
class OneOf:
    """One of a few fixed values (compared with ``==`` and by type: ``True`` is not ``1``)."""

    values: tuple

    def describe(self) -> str:
        return "one of " + ", ".join(_show(v) for v in self.values)

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)


BOOL = OneOf((True, False))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _literal(value: Any) -> str:
    """A value as a user wrote it in YAML: null, true, 'text', -1, nan, 1e+308."""
    if value is None or isinstance(value, bool):
        return _show(value)
    return repr(value)


def option(default: Any, rule: Range | OneOf, doc: str = "") -> Any:
    """A dataclass field whose values ``rule`` checks; ``doc`` is shown in error messages."""
    return field(default=default, metadata={"rule": rule, "doc": doc})


@dataclass(frozen=True)
class VerifierOptions:
    """Base of every verifier's options. Subclasses set ``verifier`` and declare ``option`` fields.

    ``data_keys`` are per-row inputs a verifier also takes as keywords (``choices``, ``problem``,
    ``image_size``): accepted next to the options, checked by the verifier itself.
    """

    verifier: ClassVar[str] = ""
    data_keys: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in fields(self):
            rule = f.metadata.get("rule")
            value = getattr(self, f.name)
            if rule is not None and not rule.accepts(value):
                raise ValueError(f"{self.verifier} option {f.name}={_literal(value)} is not allowed: allowed {rule.describe()}")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> "VerifierOptions":
        """Build (and so validate) from a mapping; unknown names are an error, data keys are skipped."""
        options = dict(options or {})
        known = set(cls.names())
        unknown = sorted(k for k in options if k not in known and k not in cls.data_keys)
        if unknown:
            listed = ", ".join(cls.names() + list(cls.data_keys)) or "none"
            raise ValueError(f"{cls.verifier}: unknown option {', '.join(map(repr, unknown))}; known options: {listed}")
        return cls(**{k: v for k, v in options.items() if k in known})

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> "VerifierOptions":
        """``parse``, cached per distinct (hashable) kwargs: the per-call path of a verifier."""
        try:
            key = (cls, tuple(sorted(options.items())))
            hit = _cache.get(key)
        except TypeError:  # an unhashable value (a list-valued option): build it each time
            return cls.parse(options)
        if hit is None:
            hit = cls.parse(options)
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = hit
        return hit


_cache: dict[tuple, VerifierOptions] = {}
