"""Harnesses, not the product: code the tests, the benchmarks and the CPU demo drive the product
with. Shipped (benchmarks and the demo run from an installed package), never imported by the
reward, data or integration code.

- ``verl_batch``: verl configs and reward batches built outside a trainer, verl's real
  ``RewardLoopManager`` driven without a policy model.
- ``bounded_jobs``: deliberately slow or large jobs for the bounded worker pool's limits.

The judge's scripted servers are still ``wethink_verl.judge.testing``.
"""
