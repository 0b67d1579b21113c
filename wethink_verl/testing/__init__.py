"""Harnesses, not the product: code the tests, the benchmarks and the CPU demo drive the product
with. Shipped (benchmarks and the demo run from an installed package), never imported by the
reward, data, judge or integration code.

- ``verl_batch``: verl configs and reward batches built outside a trainer, verl's real
  ``RewardLoopManager`` driven without a policy model.
- ``bounded_jobs``: deliberately slow or large jobs for the bounded worker pool's limits.
- ``judge_servers``: scripted judge servers (a test double of a judge model over real HTTP on
  127.0.0.1, a recording proxy); ``python -m wethink_verl.testing.judge_servers serve``.
- ``vllm_server``: a real vLLM CPU server in its own venv and process group.
- ``ports``: a free port on 127.0.0.1.
"""
