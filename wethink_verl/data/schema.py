"""WeThink records: schema, cleaning, validation, and the verl / EasyR1 / SFT row shapes.

Pure Python + Pillow: no verl, torch or Ray, so ``prepare`` starts fast and its worker processes
stay small. ``dataset.WeThinkDataset`` builds its rows with the same functions, so a prepared
parquet file and the dataset class can never disagree.

A WeThink record (release: one JSON object per line)::

    {"problem", "answer", "category", "abilities", "refined_cot", "image_path", "reward"}

What cleaning does, and nothing more (the record is otherwise passed on untouched):

- ``answer``: the content of its last complete ``<answer>…</answer>`` block if it has one, then
  any remaining ``<think>``/``<answer>`` tags removed (their text kept); whitespace normalised.
- ``refined_cot``: complete ``<answer>…</answer>`` blocks removed (the answer is its own field),
  then the tags removed; whitespace normalised.
- ``problem``: whitespace normalised; for the *prompt* only, literal media placeholders
  (``<image>``, ``<video>``, ``<audio>``) and literal chat special tokens (``<|image_pad|>``,
  ``<|vision_start|>``, …) are escaped as ``&lt;image&gt;`` etc. — verl, EasyR1 and LLaMA-Factory
  count placeholders against images, and a literal ``<|image_pad|>`` becomes an image token —
  then one real ``<image>`` per image is put in front. ``extra_info.problem`` keeps the text
  unescaped (the judge reads it).
- Whitespace normalisation: CRLF/CR to LF, trailing spaces on each line dropped, three or more
  newlines collapsed to two, ends stripped.

A row that cannot become a training example raises :class:`BadRowError` naming its index and
one of the :class:`Reason` strings; ``--skip-bad`` counts these instead.

This module gathers the names; each lives with its role: ``bad_rows`` (Reason, BadRowError),
``cleaning`` (the text rules above), ``images`` (confinement and checks), ``row_builder`` (record
-> CleanRow, in process or in workers), ``output_rows`` (verl / EasyR1 / SFT shapes), ``stats``
(the summary). The field names themselves are the row contract's (``wethink_verl.rows``).
"""

from __future__ import annotations

from ..rows import RECORD_FIELDS, STYLE_MODEL, STYLE_RULE  # noqa: F401
from .bad_rows import BadRowError, Reason  # noqa: F401
from .cleaning import clean_answer, clean_cot, escape_media_literals, has_tags, normalize_whitespace, split_abilities  # noqa: F401
from .images import IMAGE_CHECKS, ImageChecker, ImageProblem  # noqa: F401
from .output_rows import easyr1_row, sft_row, sft_target, verl_messages, verl_row  # noqa: F401
from .row_builder import SYSTEM_PROMPT_MODES, USER_PROMPT_JOINER, CleanRow, RowBuilder, RowOptions  # noqa: F401
from .stats import Stats  # noqa: F401
