"""Entry point of the ``verl.plugins`` group: ``import verl`` imports this in every process
(driver, TaskRunner, RewardLoopWorker and AgentLoopWorker actors) and the ``wethink`` reward
manager becomes available. Disable with ``VERL_USE_EXTERNAL_PLUGINS=none``.

verl swallows a failing plugin at DEBUG level; ``wethink-verl doctor`` reports it instead.
Under EasyR1 (also the package ``verl``, without a reward loop) this module does nothing.
"""

from __future__ import annotations

REGISTERED_NAME = "wethink"


def register() -> bool:
    """Register the manager in verl's reward-loop registry; False when this verl has none."""
    try:
        from verl.experimental.reward_loop.reward_manager import registry
    except ImportError:
        return False
    from .verl_manager import WeThinkRewardManager

    current = registry.REWARD_MANAGER.get(REGISTERED_NAME)
    if current is None or current.__qualname__ != WeThinkRewardManager.__qualname__:
        registry.register(REGISTERED_NAME)(WeThinkRewardManager)
    return True


register()
