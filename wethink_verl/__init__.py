"""wethink_verl: WeThink's hybrid reward (rule verifiers + LLM judge) and data layer for verl / EasyR1.

The core (``verifiers``, ``reward``) imports neither verl nor Ray; integrations live in
``integrations``, ``judge`` and ``data.dataset``.
"""

from .version import __version__

__all__ = ["__version__"]
