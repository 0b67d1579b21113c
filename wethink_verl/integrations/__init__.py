"""Thin adapters at the edges: verl (reward manager, compute_score, plugin entry point), EasyR1
(a reward-function file), and ``wethink-verl doctor``. Only these import verl."""
