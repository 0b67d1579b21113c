"""Old path of the verl batch harness, now :mod:`wethink_verl.testing.verl_batch`: kept importable
for callers not yet moved (the trainer-loop and judge tests)."""

from ..testing.verl_batch import (  # noqa: F401
    compose_verl_config,
    last_token_scores,
    make_reward_batch,
    score_with_reward_loop,
    shutdown_reward_loop,
    verl_config_dir,
)
