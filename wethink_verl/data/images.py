"""A record's images: resolved inside the image root (``..``, absolute paths, ``~`` and symlinks
leading out are refused unless allowed), then checked (``IMAGE_CHECKS``) with results cached."""

from __future__ import annotations

import io
import os

from ..lru_cache import LRU
from .bad_rows import Reason

# decode: JPEG decoded (at 1/8 scale), PNG chunk CRCs verified to the end, other formats decoded;
# header: opened, size read; exists: a stat
IMAGE_CHECKS = ("decode", "header", "exists")


class ImageProblem(Exception):
    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class ImageChecker:
    """Resolves an ``image_path`` against the image root and checks it (results cached: rows of
    the release share images). By default a path must stay inside the root once resolved —
    ``..``, absolute paths, ``~`` and symlinks included — so a crafted record cannot make
    ``prepare`` read (and ``--embed-images`` copy) any other file; ``allow_outside_root`` lifts it."""

    def __init__(self, image_root: str, mode: str = "decode", cache_size: int = 65536, allow_outside_root: bool = False):
        if mode not in IMAGE_CHECKS:
            raise ValueError(f"image_check must be one of {IMAGE_CHECKS}, got {mode!r}")
        self.image_root = os.path.abspath(os.path.expanduser(image_root))
        self._real_root = os.path.realpath(self.image_root)
        self.mode = mode
        self.allow_outside_root = allow_outside_root
        self._cache = LRU(cache_size)

    def resolve(self, rel: str) -> str:
        """The absolute path a record's ``image_path`` names (``~`` is a name, not home, when confined)."""
        if self.allow_outside_root:
            rel = os.path.expanduser(rel)
        return os.path.normpath(os.path.join(self.image_root, rel))

    def _outside(self, path: str) -> ImageProblem | None:
        if self.allow_outside_root:
            return None
        real = os.path.realpath(path)
        if real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep):
            return None
        via = f" (via {path})" if real != path else ""
        return ImageProblem(Reason.OUTSIDE_IMAGE_ROOT, f"{real}{via} is outside {self._real_root} (pass --allow-images-outside-root to allow it)")

    def locate(self, rel: str) -> str:
        """The path of an existing image inside the root (not cached: before reading its bytes)."""
        path = self.resolve(rel)
        problem = self._outside(path) or self._check(path, "exists")
        if problem is not None:
            raise problem
        return path

    def check(self, rel: str, data: bytes | None = None) -> tuple[str, tuple[int, int] | None]:
        """(absolute path, (width, height) or None in ``exists`` mode); raises ImageProblem.
        With ``data`` (the bytes to embed, read from ``locate``'s path) those bytes must decode
        as an image, whatever the mode."""
        path = self.resolve(rel)
        key = (path, data is not None)
        hit = self._cache.get(key)
        if hit is None:
            if data is not None:
                hit = _inspect_image(io.BytesIO(data), path, "decode")
            else:
                hit = self._outside(path) or self._check(path, self.mode)
            self._cache.put(key, hit)
        if isinstance(hit, ImageProblem):
            raise hit
        return path, hit

    def _check(self, path: str, mode: str):
        if not os.path.isfile(path):
            return ImageProblem(Reason.MISSING_IMAGE, f"{path} does not exist (image root {self.image_root})")
        if mode == "exists":
            return None
        return _inspect_image(path, path, mode)


def _inspect_image(source, label: str, mode: str):
    """(width, height), or an ImageProblem; ``source`` is a path or a binary file object."""
    from PIL import Image

    try:
        with Image.open(source) as im:
            size = im.size
            if mode == "decode":
                if im.format == "PNG":
                    # every chunk read to IEND and its CRC checked: catches truncation and bit
                    # rot ~300x faster than inflating a document-sized page
                    im.verify()
                else:
                    if im.format == "JPEG":
                        # decode at 1/8 scale: the entropy-coded data is still read to the end
                        im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                    im.load()
    except Exception as e:  # UnidentifiedImageError, OSError("image file is truncated"), bombs, …
        return ImageProblem(Reason.CORRUPT_IMAGE, f"{label}: {type(e).__name__}: {e}")
    return (int(size[0]), int(size[1]))


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ImageProblem(Reason.MISSING_IMAGE, f"{path}: {e}") from None
