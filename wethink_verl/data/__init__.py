"""WeThink data: record schema and cleaning (``schema``), the ``prepare`` writers for verl /
EasyR1 / LLaMA-Factory (``prepare``), verl's ``data.custom_cls`` dataset class (``dataset``,
the only module here that imports verl and torch) and a synthetic WeThink-style generator
(``synthetic``).

Import submodules directly; this package imports nothing heavy.
"""
