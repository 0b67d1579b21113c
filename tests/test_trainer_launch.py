"""The recipes launch through verl's own trainer CLI: ``python -m verl.trainer.main_ppo`` with each
recipe gets through TaskRunnerV1 (TransferQueue), the tokenizer/processor, verl's dataset loader on
prepared parquet, up to verl's GPU-count check, the first thing a CPU box cannot pass. ``doctor``
names a package the trainer needs when it is missing. The smoke script runs up to the same check."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("verl")

ROOT = Path(__file__).resolve().parent.parent
VERL_RECIPES = ROOT / "recipes" / "verl"
GPU_CHECK = "Total available GPUs 0 is less than total desired GPUs"
# TaskRunnerV1, TransferQueue's controller and its 8 storage units each reserve a logical CPU
# before the GPU check: a 2-core box needs more logical CPUs than cores (they mostly wait)
RAY_CPUS = "ray_kwargs.ray_init.num_cpus=32"
EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?\w+(?:Error|Exception)(?:\(\w+\))?: ")
# each launch takes 1-3 min on a loaded 2-core box; its subprocess deadline (killed past it) sits
# inside the test's; no process a launch starts (main_ppo's own Ray cluster) outlives it
LAUNCH_S = 420
pytestmark = [pytest.mark.slow, pytest.mark.timeout(LAUNCH_S + 60), pytest.mark.usefixtures("no_leftover_processes")]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` in a session of its own, killed whole (main_ppo, its Ray cluster, the
    smoke script's children) past LAUNCH_S or when the test is interrupted."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=LAUNCH_S)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def smoke_inputs(tmp_path_factory):
    from wethink_verl.demo.gpu_smoke import build

    return build(tmp_path_factory.mktemp("smoke"), rows=16)


def _launch_env(smoke_inputs: dict, **extra: str) -> dict:
    env = dict(os.environ, WETHINK_DATA=smoke_inputs["SMOKE_DATA"], WETHINK_MODEL=smoke_inputs["SMOKE_POLICY"], HYDRA_FULL_ERROR="1")
    env.pop("RAY_ADDRESS", None)  # never join a cluster that happens to run here
    env.update(extra)
    return env


def _assert_stopped_at_gpu_check(out: subprocess.CompletedProcess) -> None:
    text = out.stdout + out.stderr
    assert out.returncode != 0, text[-3000:]
    assert GPU_CHECK in text, text[-5000:]
    # nothing failed on the way: the only exception raised is the GPU-count ValueError
    raised = [ln for ln in text.splitlines() if EXCEPTION_LINE.match(ln)]
    assert raised and all(GPU_CHECK in ln or ln.startswith("ray.exceptions.RayTaskError(ValueError)") for ln in raised), raised
    assert "ModuleNotFoundError" not in text.replace("engine is not available: ModuleNotFoundError", "")
    # verl's dataset loader read the prepared parquet through the offline Qwen2.5-VL processor
    assert "dataset len:" in text, text[-3000:]


# wethink_grpo_judge_external differs from wethink_grpo only in reward.reward_kwargs, which verl
# reads after the GPU check (test_recipes composes and resolves it); wethink_grpo_judge_incluster,
# whose judge pool verl sizes before the check, is launched by the smoke script's test below
@pytest.mark.parametrize("name", ["wethink_grpo"])
def test_main_ppo_reaches_the_gpu_count_check(smoke_inputs, name, tmp_path):
    """The README's launch command, literally, plus the data/model variables the recipe reads and
    enough logical Ray CPUs for this box. The in-cluster recipe adds the judge's resource pool,
    which verl sizes before the check."""
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo", f"--config-path={VERL_RECIPES}", f"--config-name={name}", RAY_CPUS]
    out = _run(cmd, cwd=tmp_path, env=_launch_env(smoke_inputs))
    _assert_stopped_at_gpu_check(out)
    assert "TaskRunnerV1" in out.stdout + out.stderr  # verl 0.9's default trainer, not the legacy one


def test_smoke_script_runs_up_to_the_gpu_count_check(tmp_path):
    """recipes/verl/smoke_1gpu.sh: builds the tiny policy and judge, prepares 64 rows, composes the
    2-step run and launches it; on CPU it must stop at the GPU check and nowhere earlier."""
    env = dict(os.environ, SMOKE_DIR=str(tmp_path / "smoke"), SMOKE_EXTRA=RAY_CPUS, PYTHON=sys.executable)
    env.pop("RAY_ADDRESS", None)
    out = _run(["bash", str(VERL_RECIPES / "smoke_1gpu.sh")], env=env, cwd=tmp_path)
    text = out.stdout + out.stderr
    assert GPU_CHECK.replace("desired GPUs", "desired GPUs 1") in text, text[-5000:]
    assert out.returncode != 0
    assert "dataset len: 64" in text, text[-3000:]
    built = tmp_path / "smoke"
    assert (built / "policy" / "model.safetensors").exists() and (built / "judge" / "model.safetensors").exists()
    assert "no 'step:N" in text  # the report says plainly that no step ran


def test_doctor_names_the_missing_trainer_package(tmp_path):
    """A shadow ``transfer_queue`` that raises ModuleNotFoundError stands for an environment without
    TransferQueue (the state `make setup` was in before): doctor fails the V1 trainer check and
    names the PyPI package, while the legacy trainer still imports."""
    shadow = tmp_path / "transfer_queue"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'transfer_queue'\", name='transfer_queue')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    out = _run([sys.executable, "-m", "wethink_verl.cli", "doctor", "--json"], env=env)
    checks = {c["name"]: c for c in json.loads(out.stdout)}
    assert out.returncode == 1
    v1 = checks["V1 trainer (TaskRunnerV1)"]
    assert v1["status"] == "FAIL" and "'TransferQueue'" in v1["detail"] and "trainer.use_v1" in v1["detail"]
    assert checks["legacy trainer"]["status"] == "OK" and checks["reward-model router"]["status"] == "OK"
