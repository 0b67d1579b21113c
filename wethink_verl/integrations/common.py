"""Old path of what the adapters share, now :mod:`wethink_verl.integrations.scorers` (one scorer per
config) and :mod:`wethink_verl.rows` (the sample a row becomes): kept importable for callers not
yet moved (``verl_manager.py`` and the trainer-loop tests)."""

from ..rows import sample_from_row  # noqa: F401
from .scorers import config_from_kwargs, get_scorer, make_judge  # noqa: F401
