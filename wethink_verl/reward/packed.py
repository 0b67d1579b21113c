"""Old home of the packed ground-truth codec (EasyR1's answer column): it lives in
:mod:`wethink_verl.rows` now; these names stay importable from here."""

from ..rows import PACKED_FIELDS, PACKED_MARKER, pack_ground_truth, unpack_ground_truth

MARKER = PACKED_MARKER

__all__ = ["MARKER", "PACKED_FIELDS", "pack_ground_truth", "unpack_ground_truth"]
