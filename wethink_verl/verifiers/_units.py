"""A unit after a math answer (``8 m^2``, ``12.5\\,\\text{kg}``, ``15\\mbox{ cm}^2``, ``90 mph``).

``split_unit`` reads a trailing unit from ``UNITS`` (a deliberately small table: spellings models
write, mapped to pint unit names); anything else (``2x``, ``3 apples``) is not a unit. Then, in
``math``: a unit on one side only is dropped (``8 m^2`` for a gold of 8); units on both sides are
compared with pint: a different dimension is wrong, the same dimension is converted to the gold's
unit (``20 mm`` is ``2 cm``). So a unit never makes a wrong number right. pint is imported only
when two different units meet.
"""

from __future__ import annotations

import re
from functools import lru_cache

# spelling -> pint unit ("" = a filler that is never converted: "units", "dollars")
UNITS: dict[str, str] = {}
for names, unit in (
    ("mm millimeter millimeters millimetre millimetres", "millimeter"), ("cm centimeter centimeters centimetre centimetres", "centimeter"),
    ("m meter meters metre metres", "meter"), ("km kilometer kilometers kilometre kilometres", "kilometer"),
    ("in inch inches", "inch"), ("ft foot feet", "foot"), ("yd yard yards", "yard"), ("mi mile miles", "mile"),
    ("mg milligram milligrams", "milligram"), ("g gram grams", "gram"), ("kg kilogram kilograms", "kilogram"),
    ("lb lbs pound pounds", "pound"), ("oz ounce ounces", "ounce"), ("t ton tons tonne tonnes", "metric_ton"),
    ("ml mL milliliter milliliters millilitre millilitres", "milliliter"), ("L l liter liters litre litres", "liter"),
    ("s sec secs second seconds", "second"), ("ms millisecond milliseconds", "millisecond"),
    ("min mins minute minutes", "minute"), ("h hr hrs hour hours", "hour"), ("day days", "day"), ("week weeks", "week"),
    ("mph", "mile/hour"), ("km/h kmh kph km/hr", "kilometer/hour"), ("m/s", "meter/second"), ("ft/s", "foot/second"),
    ("N newton newtons", "newton"), ("J joule joules", "joule"), ("kJ", "kilojoule"), ("W watt watts", "watt"),
    ("kW", "kilowatt"), ("V volt volts", "volt"), ("A amp amps ampere amperes", "ampere"), ("Pa pascal pascals", "pascal"),
    ("kPa", "kilopascal"), ("Hz hertz", "hertz"), ("rad radian radians", "radian"),
    ("unit units", ""), ("dollar dollars USD", ""), ("cent cents", ""),  # fillers: dropped, never converted
):  # fmt: skip
    for name in names.split(" "):
        UNITS[name] = unit

_WRAPPED = r"\\(?:text|textnormal|mathrm|mbox|textrm|operatorname)\s*\{\s*(?P<w>[A-Za-z/ ]{1,20}?)\s*\}"
_BARE = r"(?P<b>(?:square |sq |cubic )?[A-Za-z]{1,12}(?:/[A-Za-z]{1,3})?)"
_POWER = r"(?:\s*\^\s*\{?\s*(?P<p>[23])\s*\}?)?"
_TRAILING = re.compile(r"^(?P<v>.*?[\d}).])\s*(?:\\[,;:! ]|~|\\quad)*\s*(?:" + _WRAPPED + "|" + _BARE + ")" + _POWER + r"\s*\.?$", re.DOTALL)


def is_letter_unit(text: str) -> bool:
    """Whether text ends in a bare one-letter unit ("3 m", "2s"): that may as well be a variable."""
    m = _TRAILING.match(text.strip())
    return bool(m and m.group("b") and len(m.group("b").strip()) == 1)


def split_unit(text: str) -> tuple[str, str | None]:
    """(value, pint unit or "" for a filler) when text ends in a known unit, else (text, None)."""
    if len(text) > 200:
        return text, None
    m = _TRAILING.match(text.strip())
    if not m:
        return text, None
    name = (m.group("w") or m.group("b")).strip()
    power = m.group("p")
    if name.startswith(("square ", "sq ")):
        name, power = name.split(" ", 1)[1], "2"
    elif name.startswith("cubic "):
        name, power = name.split(" ", 1)[1], "3"
    unit = UNITS.get(name, UNITS.get(name.lower()) if len(name) > 2 else None)
    if unit is None:
        return text, None
    value = m.group("v").strip()
    # a bare single letter is a unit only right after a digit ("8 m^2", "x = 5 m"; not "\sqrt{2} m")
    if len(name) == 1 and m.group("b") and not value[-1:].isdigit():
        return text, None
    if unit and power:
        unit = f"({unit})**{power}"
    return value, unit


@lru_cache(maxsize=1)
def _registry():
    import pint

    return pint.UnitRegistry()


@lru_cache(maxsize=1024)
def conversion_factor(unit: str, to_unit: str) -> float | None:
    """How many ``to_unit`` one ``unit`` is, or None for different dimensions."""
    if unit == to_unit:
        return 1.0
    import pint

    ureg = _registry()
    try:
        return float(ureg.Quantity(1, unit).to(to_unit).magnitude)
    except pint.DimensionalityError:
        return None
