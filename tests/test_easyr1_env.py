"""wethink-verl inside an EasyR1 environment, where ``verl`` is EasyR1's package (0.3.x: no
``verl.experimental``, ``verl.workers.reward.function`` instead).

Always run: an EasyR1-shaped stand-in ``verl`` (only the modules doctor looks for) on PYTHONPATH,
for ``doctor``'s host detection and its omegaconf check. With ``WETHINK_EASYR1_PYTHON`` pointing at
a real EasyR1 environment, also: doctor there, EasyR1's own RLHFDataset + AutoRewardManager over
``prepare --format easyr1`` output (answers as packed text and as objects), the offline Qwen2.5-VL
processor under EasyR1's transformers 4.x, and why EasyR1 needs omegaconf<2.4. Build one (EasyR1
is not on PyPI; both packages are called ``verl``, so it gets its own venv, outside the repo)::

    python3.11 -m venv /tmp/easyr1/venv
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > /tmp/easyr1/venv/lib/python3.11/site-packages/zz_shared.pth   # torch, ray, wethink_verl…
    /tmp/easyr1/venv/bin/pip install --no-deps /path/to/EasyR1 transformers==4.57.1 \\
        huggingface-hub==0.36.0 tokenizers==0.22.1 datasets==4.3.0 msgspec
    WETHINK_EASYR1_PYTHON=/tmp/easyr1/venv/bin/python pytest tests/test_easyr1_env.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wethink_verl.data.prepare import PrepareConfig, prepare
from wethink_verl.data.synthetic import write_synthetic_wethink

HERE = Path(__file__).resolve().parent
EASYR1_PYTHON = os.environ.get("WETHINK_EASYR1_PYTHON")
needs_easyr1 = pytest.mark.skipif(not EASYR1_PYTHON or not os.path.exists(EASYR1_PYTHON), reason="no EasyR1 environment (WETHINK_EASYR1_PYTHON)")


def _stand_in_easyr1(root: Path, omegaconf_version: str | None = None) -> Path:
    """A ``verl`` package shaped like EasyR1's (what doctor inspects), optionally an omegaconf
    distribution record of another version (importlib.metadata reads the first on the path)."""
    for pkg in ("verl", "verl/workers", "verl/workers/reward"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text('__version__ = "0.3.3.dev0"\n' if pkg == "verl" else "")
    (root / "verl/workers/reward/function.py").write_text("# EasyR1's reward function manager lives here\n")
    if omegaconf_version:
        info = root / f"omegaconf-{omegaconf_version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: omegaconf\nVersion: {omegaconf_version}\n")
    return root


def _doctor(python: str = sys.executable, pythonpath: Path | None = None) -> tuple[int, dict]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([python, "-m", "wethink_verl.cli", "doctor", "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, {c["name"]: c for c in json.loads(proc.stdout)}


def test_doctor_reports_an_easyr1_host_instead_of_crashing(tmp_path):
    status, checks = _doctor(pythonpath=_stand_in_easyr1(tmp_path))
    assert status == 0, checks
    assert checks["host framework"]["status"] == "OK" and checks["host framework"]["detail"].startswith("EasyR1 (verl 0.3.3.dev0)")
    assert checks["omegaconf (EasyR1)"]["status"] == "OK" and checks["EasyR1 reward file"]["status"] == "OK"
    assert "reward-loop registry" not in checks  # verl's checks do not apply


def test_doctor_fails_omegaconf_2_4_in_an_easyr1_environment(tmp_path):
    status, checks = _doctor(pythonpath=_stand_in_easyr1(tmp_path, omegaconf_version="2.4.0"))
    assert status == 1
    assert checks["omegaconf (EasyR1)"]["status"] == "FAIL" and "omegaconf<2.4" in checks["omegaconf (EasyR1)"]["detail"]


def test_easyr1_reward_file_unpacks_a_ground_truth_object():
    """A JSONL whose answer is an object reaches the reward function as a dict."""
    from wethink_verl.integrations.easyr1_reward import compute_score

    right = "<think>I looked.</think><answer>B</answer>"
    scores = compute_score([
        {"response": right, "response_length": 9, "ground_truth": {"wethink": 1, "answer": "B", "category": "multiple choice", "reward": "rule-based"}},
        {"response": right, "response_length": 9, "ground_truth": {"answer": "B", "category": "multiple choice", "problem": None, "verifier": None}},
        {"response": "<think>x</think><answer>3</answer>", "response_length": 9, "ground_truth": {"answer": 3}},
        {"response": right, "response_length": 9, "ground_truth": {"wethink": 1, "answer": "C", "category": "multiple choice"}},
    ])  # fmt: skip
    assert [s["overall"] for s in scores] == [1.0, 1.0, 1.0, 0.3]


# ---- a real EasyR1 environment -------------------------------------------------------------------
@pytest.fixture(scope="module")
def easyr1_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("easyr1")
    records, images = write_synthetic_wethink(root / "ds", 12, seed=21)
    prepare(PrepareConfig(input=records, image_root=images, output_dir=str(root / "prepared"), format="easyr1", progress=False))
    objects = root / "objects.jsonl"
    with open(root / "prepared" / "train.jsonl") as src, open(objects, "w") as dst:
        for line in src:
            row = json.loads(line)
            row["answer"] = json.loads(row["answer"])  # the packed answer as a JSON object
            dst.write(json.dumps(row) + "\n")
    return root / "prepared", objects


@needs_easyr1
def test_real_easyr1_doctor():
    status, checks = _doctor(EASYR1_PYTHON)
    assert checks["host framework"]["detail"].startswith("EasyR1 (verl 0.3"), checks["host framework"]
    assert checks["omegaconf (EasyR1)"]["status"] == "OK" and checks["EasyR1 reward file"]["status"] == "OK"
    assert status == 0, checks


@needs_easyr1
def test_real_easyr1_dataset_and_reward_manager(easyr1_data, tmp_path):
    prepared, objects = easyr1_data
    env = dict(os.environ, WETHINK_CACHE=str(tmp_path / "cache"))  # the processor built under transformers 4.x, fresh
    proc = subprocess.run([EASYR1_PYTHON, str(HERE / "easyr1" / "run_easyr1_reward.py"), str(prepared), str(objects)],
                          capture_output=True, text=True, timeout=900, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["transformers"].startswith("4.")
    assert out["packed_text"]["ground_truth_type"] == "str" and out["object"]["ground_truth_type"] == "dict"
    for variant in ("packed_text", "object"):
        rule = [o for o, r in zip(out[variant]["overall"], out[variant]["reward"]) if r == "rule-based"]
        assert rule and all(o == pytest.approx(1.0) for o in rule), (variant, out[variant])


VLLM_STUB = {
    "vllm/__init__.py": "class LLM: pass\nclass RequestOutput: pass\nclass SamplingParams: pass\n",
    "vllm/distributed/__init__.py": "parallel_state = None\n",
    "vllm/lora/__init__.py": "",
    "vllm/lora/request.py": "class LoRARequest: pass\n",
    "vllm/lora/models.py": "class LoRAModel: pass\n",
    "vllm/lora/utils.py": "def get_adapter_absolute_path(p): return p\n",
    "vllm/lora/worker_manager.py": "class LRUCacheWorkerLoRAManager: pass\n",
}
STRUCTURED = "from omegaconf import OmegaConf\nfrom verl.trainer.config import PPOConfig\nOmegaConf.structured(PPOConfig)\nprint('ok')\n"


@needs_easyr1
def test_real_easyr1_config_needs_omegaconf_below_2_4(tmp_path):
    """The README's claim: EasyR1's structured config fails under omegaconf 2.4 before any YAML is read.
    (EasyR1's config module imports vllm classes: a stub stands in, nothing of it runs.)"""
    for rel, text in VLLM_STUB.items():
        (tmp_path / "stub" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "stub" / rel).write_text(text)
    pip = subprocess.run([EASYR1_PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "omega24"), "omegaconf==2.4.0"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    if pip.returncode != 0:
        pytest.skip(f"cannot install omegaconf 2.4.0 here: {pip.stderr[-300:]}")
    ok = subprocess.run([EASYR1_PYTHON, "-c", STRUCTURED], capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(tmp_path / "stub")))
    assert ok.returncode == 0 and "ok" in ok.stdout, ok.stderr[-2000:]
    bad = subprocess.run([EASYR1_PYTHON, "-c", STRUCTURED], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=f"{tmp_path / 'omega24'}:{tmp_path / 'stub'}"))  # fmt: skip
    assert bad.returncode != 0 and "logger" in bad.stderr, bad.stderr[-2000:]
    status, checks = _doctor(EASYR1_PYTHON, pythonpath=tmp_path / "omega24")
    assert status == 1 and checks["omegaconf (EasyR1)"]["status"] == "FAIL"
