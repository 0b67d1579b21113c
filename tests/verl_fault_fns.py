"""A verl reward function for the fault tests (loaded by file path by verl's reward loop): our
``compute_score_async`` reduced to its score, the shape verl's ``rate_limited`` manager expects
when it wraps each sample in ``asyncio.wait_for`` (its timed-out rows carry other extra keys)."""

from wethink_verl.integrations.scorers import get_scorer
from wethink_verl.integrations.verl import compute_score_async


async def score_only(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return (await compute_score_async(data_source, solution_str, ground_truth, extra_info, **kwargs))["score"]


# verl times each call (``reward.timeout``, 5 s in the test): start this scorer's verifier pool at
# load, outside any timed call, so the first row's time is its own and not a forkserver's start
# on a loaded machine (verl's timed-out rows carry other extra keys, which its manager cannot merge).
TEST_KWARGS = {"bounded": {"workers": 1, "timeout_s": 120}}  # test_verl_faults.py's reward_kwargs
get_scorer(TEST_KWARGS).pool.warm_up()
