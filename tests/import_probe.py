"""What a process has imported: run in a subprocess or a worker process by ``test_layering.py``."""

from __future__ import annotations

import sys

# what scoring drags in: a module of ours that scores, or a library only scoring needs
SCORING = ("wethink_verl.verifiers", "wethink_verl.reward.scorer", "wethink_verl.reward.router",
           "rapidfuzz", "math_verify", "sympy", "pint", "re2")  # fmt: skip
REWARD_STACK = SCORING + ("wethink_verl.judge",)
FRAMEWORKS = ("verl", "torch", "ray", "transformers")


def loaded(prefixes: tuple[str, ...]) -> list[str]:
    """The imported modules that are, or live below, one of ``prefixes``."""
    return sorted(m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def reward_stack_in_worker(_batch) -> list[str]:
    """A prepare worker's task: what of the reward stack its process has imported."""
    return loaded(REWARD_STACK)
