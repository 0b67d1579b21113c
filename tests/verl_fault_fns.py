"""A verl reward function for the fault tests (loaded by file path by verl's reward loop): our
``compute_score_async`` reduced to its score, the shape verl's ``rate_limited`` manager expects
when it wraps each sample in ``asyncio.wait_for`` (its timed-out rows carry other extra keys)."""

from wethink_verl.integrations.verl import compute_score_async


async def score_only(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return (await compute_score_async(data_source, solution_str, ground_truth, extra_info, **kwargs))["score"]
