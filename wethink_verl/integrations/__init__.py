"""Thin adapters at the edges: verl (reward manager, compute_score, plugin entry point), EasyR1
(a reward-function file), and the checks of ``wethink-verl doctor``. Only these import verl."""

from __future__ import annotations

from pathlib import Path


def easyr1_reward_file() -> Path:
    """The EasyR1 reward-function file (EasyR1 loads it by path: ``worker.reward.reward_function=PATH:compute_score``)."""
    return Path(__file__).resolve().with_name("easyr1_reward.py")
