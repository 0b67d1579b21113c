"""Units written after a number (``12.5 kg``, ``90 km/h``, ``30°``, ``8 m^2``), converted with pint.

Which words count as units is a small table (below), not pint's own guessing: pint reads ``in``
as inches, ``at`` as technical atmospheres, ``cup`` and ``bar`` as units, and "2 cups" in a
counting answer is not a volume. pint does the rest: dimensions and conversion (temperatures
with their offsets). The registry (about 0.5 s to build) is created on first use only, and each
conversion between two units is cached as an affine map.

>>> read_unit(" km/h, fast", 0)
Unit(unit='(kilometer) / (hour)', end=5)
>>> convert(20.0, "millimeter", "centimeter")
2.0
>>> same_kind("mile / hour", "(kilometer) / (hour)"), same_kind("degree", "byte")
(True, False)
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

# spelling -> pint unit. Symbols are case-sensitive; words (3+ letters) also match in any case.
_LENGTH = {
    "mm": "millimeter", "cm": "centimeter", "dm": "decimeter", "m": "meter", "km": "kilometer",
    "µm": "micrometer", "μm": "micrometer", "um": "micrometer", "nm": "nanometer",
    "ft": "foot", "yd": "yard", "mi": "mile", "inch": "inch", "inches": "inch", "foot": "foot", "feet": "foot",
    "yard": "yard", "yards": "yard", "mile": "mile", "miles": "mile", "micron": "micrometer", "microns": "micrometer",
}  # fmt: skip
_MASS = {"mg": "milligram", "g": "gram", "kg": "kilogram", "lb": "pound", "lbs": "pound", "oz": "ounce",
         "ton": "ton", "tons": "ton", "tonne": "metric_ton", "tonnes": "metric_ton"}  # fmt: skip
_TIME = {"ms": "millisecond", "s": "second", "sec": "second", "secs": "second", "min": "minute", "mins": "minute",
         "h": "hour", "hr": "hour", "hrs": "hour", "day": "day", "days": "day", "week": "week", "weeks": "week",
         "month": "month", "months": "month", "yr": "year", "yrs": "year", "year": "year", "years": "year"}  # fmt: skip
_OTHER = {
    "kph": "kilometer / hour", "kmh": "kilometer / hour", "mph": "mile / hour", "knot": "knot", "knots": "knot",
    "°C": "degree_Celsius", "℃": "degree_Celsius", "°F": "degree_Fahrenheit", "℉": "degree_Fahrenheit",
    "celsius": "degree_Celsius", "fahrenheit": "degree_Fahrenheit", "kelvin": "kelvin",
    "L": "liter", "l": "liter", "mL": "milliliter", "ml": "milliliter", "cc": "cubic_centimeter",
    "gal": "gallon", "gallon": "gallon", "gallons": "gallon", "acre": "acre", "acres": "acre",
    "hectare": "hectare", "hectares": "hectare",
    "°": "degree", "deg": "degree", "degree": "degree", "degrees": "degree", "rad": "radian", "radian": "radian", "radians": "radian",
    "J": "joule", "kJ": "kilojoule", "cal": "calorie", "kcal": "kilocalorie", "W": "watt", "kW": "kilowatt",
    "kWh": "kilowatt_hour", "V": "volt", "Hz": "hertz", "kHz": "kilohertz", "MHz": "megahertz", "GHz": "gigahertz",
    "N": "newton", "Pa": "pascal", "kPa": "kilopascal", "atm": "atm", "psi": "psi", "mmHg": "mmHg",
    "KB": "kilobyte", "MB": "megabyte", "GB": "gigabyte", "TB": "terabyte",
}  # fmt: skip
# spelled-out names: "meters", "kilograms", "seconds", … (singular and plural, both spellings)
_NAMED = {
    "meter": "meter", "metre": "meter", "centimeter": "centimeter", "centimetre": "centimeter",
    "millimeter": "millimeter", "millimetre": "millimeter", "kilometer": "kilometer", "kilometre": "kilometer",
    "gram": "gram", "kilogram": "kilogram", "milligram": "milligram", "pound": "pound", "ounce": "ounce",
    "second": "second", "minute": "minute", "hour": "hour", "liter": "liter", "litre": "liter",
    "milliliter": "milliliter", "millilitre": "milliliter", "joule": "joule", "calorie": "calorie",
    "kilocalorie": "kilocalorie", "watt": "watt", "kilowatt": "kilowatt", "volt": "volt", "newton": "newton",
    "pascal": "pascal", "byte": "byte", "kilobyte": "kilobyte", "megabyte": "megabyte", "gigabyte": "gigabyte",
}  # fmt: skip
UNITS: dict[str, str] = {**_LENGTH, **_MASS, **_TIME, **_OTHER}
UNITS.update({name: unit for name, unit in _NAMED.items()})
UNITS.update({name + "s": unit for name, unit in _NAMED.items()})
_WORDS = {k.lower(): v for k, v in UNITS.items() if len(k) >= 3 and k.isalpha()}
# dimensionless units of different kinds never convert into each other (pint calls all of them "1")
_KIND = {"degree": "angle", "radian": "angle", "byte": "data", "kilobyte": "data", "megabyte": "data",
         "gigabyte": "data", "terabyte": "data"}  # fmt: skip

_TOKEN = r"(?:°[CF]|℃|℉|°|[A-Za-zµμ]+)"
# one unit: "[square|sq|cubic] X[^2|²|2|**2] [squared|cubed]". Every quantifier is a single optional
# space or a fixed token: linear time, anchored right after a number.
_ONE = re.compile(
    rf"(?:(?P<pre>square|sq\.?|cubic)\s)?(?P<tok>{_TOKEN})"
    r"(?P<pow>\s?\^\s?\{?\s?[23]\s?\}?|\s?\*\*\s?[23]|[²³]|[23](?![\d.]))?(?:\s(?P<post>squared|cubed)\b)?"
)
_PER = re.compile(r"\s?/\s?|\s(?:per|an|a)\s")
_CELSIUS = re.compile(r"\s?degrees?\s(celsius|fahrenheit|centigrade)\b", re.IGNORECASE)
_SUPER = {"²": "2", "³": "3"}


@dataclass(frozen=True)
class Unit:
    unit: str  # pint expression, e.g. "(kilometer) / (hour)", "(meter) ** 2"
    end: int  # index just past the unit in the text


def _lookup(token: str) -> str | None:
    return UNITS.get(token) or _WORDS.get(token.lower())


def _one(text: str, pos: int) -> Unit | None:
    m = _ONE.match(text, pos)
    if not m:
        return None
    unit = _lookup(m.group("tok"))
    if unit is None:
        return None
    power = 1
    if m.group("pre"):
        power = 3 if m.group("pre") == "cubic" else 2
    if m.group("pow"):
        last = m.group("pow").rstrip(" }")[-1]
        power = int(_SUPER.get(last, last))
    if m.group("post"):
        power = 2 if m.group("post") == "squared" else 3
    return Unit(unit if power == 1 else f"({unit}) ** {power}", m.end())


def read_unit(text: str, pos: int) -> Unit | None:
    """The unit written at text[pos:] (right after a number, one space allowed), or None."""
    m = _CELSIUS.match(text, pos)
    if m:
        return Unit("degree_Fahrenheit" if m.group(1).lower() == "fahrenheit" else "degree_Celsius", m.end())
    if text.startswith(" ", pos):
        pos += 1
    first = _one(text, pos)
    if first is None:
        return None
    sep = _PER.match(text, first.end)
    second = _one(text, sep.end()) if sep else None
    if second is None:
        return first
    return Unit(f"({first.unit}) / ({second.unit})", second.end)


_lock = threading.Lock()
_registry = None


def _ureg():
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                import pint  # ~0.5 s: only when a unit is actually compared

                _registry = pint.UnitRegistry()
    return _registry


@functools.lru_cache(maxsize=4096)
def _affine(src: str, dst: str) -> tuple[float, float] | None:
    """(a, b) with value_in_dst = a * value_in_src + b, or None when the units do not convert."""
    ureg = _ureg()
    try:
        q0 = ureg.Quantity(0.0, ureg.parse_units(src)).to(ureg.parse_units(dst)).magnitude
        q1 = ureg.Quantity(1.0, ureg.parse_units(src)).to(ureg.parse_units(dst)).magnitude
    except Exception:  # noqa: BLE001 - pint's DimensionalityError, UndefinedUnitError, OffsetUnitCalculusError…
        return None
    return float(q1 - q0), float(q0)


def _kind(unit: str) -> str | None:
    return next((k for name, k in _KIND.items() if name in unit), None)


def same_kind(a: str, b: str) -> bool:
    """The two units measure the same thing (convertible, and not an angle against a byte)."""
    return _kind(a) == _kind(b) and _affine(a, b) is not None


def convert(value: float, src: str, dst: str) -> float | None:
    """value (in src) expressed in dst, or None when the units are of different kinds."""
    if src == dst:
        return value
    if _kind(src) != _kind(dst):
        return None
    ab = _affine(src, dst)
    return None if ab is None else ab[0] * value + ab[1]
