"""Old path of :mod:`wethink_verl.lru_cache`, kept importable for callers not yet moved (``judge/client.py``)."""

from .lru_cache import LRU  # noqa: F401
