"""Configuration as frozen, documented dataclasses: one field = its default, its documentation and
its rule, in one place. From a tree of such classes this module derives the plain defaults
(:func:`defaults_of`), validates a mapping against it (every problem at once, in one
:class:`ConfigError`) and builds the frozen, hashable instance (``Settings.from_mapping``).

A field is declared with :func:`setting` (a value, an open table, a list) or :func:`section` (a
nested closed section, itself a ``Settings`` class). Open tables become :class:`FrozenDict` and lists
tuples, so a whole config is hashable and can key a cache, as Math-Verify's extraction configs do.

This module imports nothing of wethink_verl.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping  # (typing.Mapping's isinstance is several times slower)
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any, Callable, ClassVar


class ConfigError(ValueError):
    """The reward config has problems; ``problems`` lists each as "key: what is wrong"."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"reward config: {n} problem{'s' if n != 1 else ''}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Rule:
    """What a key accepts beyond its default's type. ``kind``: "number" (int or float), "int",
    "bool", "str", "list", "mapping" or "any"; None: the default's type (``any`` for a null default)."""

    kind: str | None = None
    nullable: bool = False
    min: float | None = None  # inclusive
    gt: float | None = None  # exclusive lower bound
    max: float | None = None  # inclusive
    choices: tuple = ()
    check: Callable[[Any, Mapping], str | None] | None = None  # extra check -> a problem or None


NO_RULE = Rule()


class FrozenDict(Mapping):
    """A read-only, hashable mapping (an open table of a frozen config)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any):
        self._data = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self):
        return FrozenDict, (self._data,)


def freeze(value: Any) -> Any:
    """Mappings -> FrozenDict, lists -> tuples, recursively (a config value made hashable)."""
    if isinstance(value, Settings):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain (JSON-shaped) form of a config value: dicts and lists again."""
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def setting(default: Any, doc: str, **rule: Any) -> Any:
    """A field: its default (frozen), its documentation and its :class:`Rule` (``Rule``'s fields)."""
    return field(default=freeze(default), metadata={"doc": doc, "rule": Rule(**rule)})


def section(cls: type, doc: str) -> Any:
    """A nested closed section (a ``Settings`` class, defaults as its own)."""
    return field(default=cls(), metadata={"doc": doc})


def doc_of(f: Field) -> str:
    return f.metadata.get("doc", "")


def _is_section(f: Field) -> bool:
    return f.default is not MISSING and is_dataclass(f.default)


def defaults_of(cls: type) -> dict:
    """The plain nested defaults of a ``Settings`` class."""
    return {f.name: defaults_of(type(f.default)) if _is_section(f) else thaw(f.default) for f in fields(cls)}


def leaf_paths(cls: type, prefix: str = "") -> list[str]:
    """Every key path of a ``Settings`` tree that holds a value (tables are leaves)."""
    out = []
    for f in fields(cls):
        path = prefix + f.name
        out += leaf_paths(type(f.default), path + ".") if _is_section(f) else [path]
    return out


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """``override`` merged into a copy of ``base`` (nested mappings merge; dotted keys nest)."""
    out = copy.deepcopy(_plain(base))  # a DictConfig inside base must merge, not be replaced
    for key, value in _plain(override).items():
        if "." in key:
            nested: dict = {}
            _set_dotted(nested, key, value)
            out = deep_merge(out, nested)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(target: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ValueError(f"config key {key!r} runs through a non-mapping value")
    target[parts[-1]] = value


def _plain(value: Any) -> Any:
    """OmegaConf DictConfig/ListConfig (and other mappings) to plain dicts/lists."""
    if isinstance(value, Settings):
        return value.to_dict()
    if hasattr(value, "items") and callable(value.items):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


# ---- validation ---------------------------------------------------------------------------------
def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (list, tuple)):
        return "list"
    if isinstance(default, Mapping) or is_dataclass(default):
        return "mapping"
    return "any"


_KIND_OK: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": is_number,
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, (list, tuple)),
    "mapping": lambda v: isinstance(v, Mapping),
    "any": lambda v: True,
}
_KIND_NAME = {"bool": "true or false", "int": "an integer", "number": "a number", "str": "a string",
              "list": "a list", "mapping": "a mapping", "any": "anything"}  # fmt: skip


@dataclass
class _Check:
    """One validation run: the root tree (for "did you mean"), the whole mapping (for checks that
    look at other keys), rules overriding the fields' own by path, and the problems found."""

    root: type
    cfg: Mapping
    rules: Mapping[str, Rule]
    root_prefix: str = ""
    problems: list[str] = field(default_factory=list)

    def section(self, cls: type, prefix: str, section: Mapping) -> None:
        by_name = {f.name: f for f in fields(cls)}
        for key, value in section.items():
            f = by_name.get(key)
            if f is None:
                self.problems.append(f"{prefix}{key}: unknown key{self.suggest(key, prefix, list(by_name))}")
            else:
                self.value(prefix + key, value, f)

    def suggest(self, key: str, prefix: str, siblings: list[str]) -> str:
        close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
        if close:
            return f" (did you mean {prefix + close[0]!r}?)"
        elsewhere = [p for p in leaf_paths(self.root, self.root_prefix) if p.rsplit(".", 1)[-1] == key]
        return f" (did you mean {' or '.join(repr(p) for p in elsewhere)}?)" if elsewhere else ""

    def value(self, path: str, value: Any, f: Field) -> None:
        rule = self.rules.get(path) or f.metadata.get("rule", NO_RULE)
        problem = _value_problem(value, f.default, rule)
        if problem:
            self.problems.append(f"{path}: {problem}")
            return
        if _is_section(f):
            self.section(type(f.default), path + ".", value)
        if rule.check is not None:
            why = rule.check(value, self.cfg)
            if why:
                self.problems.append(f"{path}: {why}")


def _value_problem(value: Any, default: Any, rule: Rule) -> str | None:
    """What is wrong with one value by its type, choices and range (None: nothing)."""
    kind = rule.kind or _kind_of(default)
    if value is None and (rule.nullable or (default is None and rule.kind is None)):
        return None
    if rule.choices and value not in rule.choices:
        return f"must be one of {', '.join(repr(c) for c in rule.choices)}, got {value!r}"
    if not _KIND_OK[kind](value):
        return f"must be {_KIND_NAME[kind]}{' or null' if rule.nullable else ''}, got {value!r} ({type(value).__name__})"
    if is_number(value):
        if rule.min is not None and value < rule.min:
            return f"must be >= {rule.min:g}, got {value!r}"
        if rule.gt is not None and value <= rule.gt:
            return f"must be > {rule.gt:g}, got {value!r}"
        if rule.max is not None and value > rule.max:
            return f"must be <= {rule.max:g}, got {value!r}"
    return None


def problems_of(cls: type, cfg: Mapping, prefix: str = "", rules: Mapping[str, Rule] | None = None) -> list[str]:
    """Every problem of ``cfg`` against the ``Settings`` class ``cls`` (keys reported as
    ``prefix + path``); ``rules`` override the fields' own rules by that full path."""
    check = _Check(cls, cfg, rules or {}, root_prefix=prefix)
    check.section(cls, prefix, cfg)
    return check.problems


def build(cls: type, mapping: Mapping) -> Any:
    """The instance of ``cls`` for an already validated mapping (missing keys: the defaults)."""
    kwargs = {}
    for f in fields(cls):
        if f.name in mapping:
            value = mapping[f.name]
            kwargs[f.name] = build(type(f.default), value) if _is_section(f) and not isinstance(value, Settings) else freeze(value)
    return cls(**kwargs)


class Settings:
    """Base of the frozen config dataclasses: ``from_mapping`` (merge over the defaults, validate,
    build) and ``to_dict`` (the plain form); fields are read as attributes."""

    SECTION: ClassVar[str] = ""  # the key path this class sits at in the whole config ("judge")

    @classmethod
    def defaults(cls) -> dict:
        return defaults_of(cls)

    @classmethod
    def from_mapping(cls, mapping: Mapping | None = None):
        """A validated instance: ``mapping`` (plain, nested or dotted keys, a DictConfig, or an
        instance already) over the defaults; raises :class:`ConfigError` listing every problem."""
        if isinstance(mapping, cls):
            return mapping
        merged = deep_merge(cls.defaults(), mapping or {})
        problems = problems_of(cls, merged, f"{cls.SECTION}." if cls.SECTION else "")
        if problems:
            raise ConfigError(problems)
        return build(cls, merged)

    def to_dict(self) -> dict:
        return {f.name: thaw(getattr(self, f.name)) for f in fields(self)}
