"""The checks of ``wethink-verl doctor``: what the host framework is and whether the plugin really works.

verl swallows a failing ``verl.plugins`` entry point at DEBUG level (the symptom is a later
"Unknown reward manager: wethink"), so this checks registration in a fresh process and, if it
failed, imports the plugin directly to show the real exception.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    status: str  # OK | WARN | FAIL | SKIP
    detail: str


_REGISTERED_PROBE = (
    "import verl\n"
    "from verl.experimental.reward_loop.reward_manager import registry\n"
    "print('REGISTERED' if 'wethink' in registry.REWARD_MANAGER else 'MISSING')\n"
)


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001
        return None


def _has_module(name: str) -> bool:
    """find_spec that answers instead of raising: ``verl.experimental.x`` under EasyR1's ``verl``
    (no ``verl.experimental``) raises ModuleNotFoundError from find_spec itself."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def host_framework() -> Check:
    if not _has_module("verl"):
        return Check("host framework", "WARN", "verl is not installed (the core works; the integrations need verl or EasyR1)")
    import verl

    version = getattr(verl, "__version__", "?")
    if _has_module("verl.experimental.reward_loop"):
        ok = version.startswith("0.9") or version.startswith("0.10")
        return Check("host framework", "OK" if ok else "WARN", f"verl {version}" + ("" if ok else " (tested on 0.9.x)"))
    if _has_module("verl.workers.reward.function"):
        from . import easyr1_reward_file as reward_file

        return Check("host framework", "OK", f"EasyR1 (verl {version}); reward file: {reward_file()}:compute_score")
    return Check("host framework", "FAIL", f"verl {version} has no reward loop (need >= 0.7.1) and is not EasyR1")


def entry_point_declared() -> Check:
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="verl.plugins") if ep.name == "wethink"]
    if not eps:
        return Check("entry point", "FAIL", "no 'wethink' entry point in group verl.plugins: reinstall with pip install -e . / pip install wethink-verl")
    return Check("entry point", "OK", f"verl.plugins: wethink = {eps[0].value}")


def plugins_policy() -> Check:
    policy = os.environ.get("VERL_USE_EXTERNAL_PLUGINS", "auto").strip().lower()
    if policy == "none":
        return Check("plugin policy", "FAIL", "VERL_USE_EXTERNAL_PLUGINS=none disables the entry point")
    if policy != "auto" and "wethink" not in {p.strip() for p in policy.split(",")}:
        return Check("plugin policy", "FAIL", f"VERL_USE_EXTERNAL_PLUGINS={policy!r} does not list 'wethink'")
    return Check("plugin policy", "OK", f"VERL_USE_EXTERNAL_PLUGINS={policy}")


def registered_in_fresh_process() -> Check:
    if not _has_module("verl.experimental.reward_loop"):
        return Check("reward-loop registry", "SKIP", "no verl reward loop here")
    out = subprocess.run([sys.executable, "-c", _REGISTERED_PROBE], capture_output=True, text=True, timeout=300)
    if "REGISTERED" in out.stdout:
        return Check("reward-loop registry", "OK", "`import verl` registers reward manager 'wethink'")
    try:
        importlib.import_module("wethink_verl.integrations.verl_plugin")
        why = "the plugin imports fine here; check VERL_USE_EXTERNAL_PLUGINS and that this Python is the trainer's"
    except Exception as e:  # noqa: BLE001 - this is the error verl hid
        why = f"importing the plugin fails: {type(e).__name__}: {e}"
    tail = out.stderr.strip().splitlines()[-1:] if out.returncode else []
    return Check("reward-loop registry", "FAIL", f"'wethink' not registered after `import verl`; {why} {' '.join(tail)}".strip())


# ---- EasyR1 hosts --------------------------------------------------------------------------------
OMEGACONF_EASYR1_MAX = (2, 4)  # EasyR1's `logger: Tuple[str]` fails under omegaconf 2.4 before any YAML is read


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def easyr1_omegaconf() -> Check:
    version = _version("omegaconf")
    if version is None:
        return Check("omegaconf (EasyR1)", "FAIL", "not installed: EasyR1's config needs omegaconf<2.4")
    if _release(version) >= OMEGACONF_EASYR1_MAX:
        return Check("omegaconf (EasyR1)", "FAIL", f"omegaconf {version}: EasyR1's config (logger: Tuple[str]) fails under 2.4; pip install 'omegaconf<2.4'")
    return Check("omegaconf (EasyR1)", "OK", f"omegaconf {version} (< 2.4, as EasyR1 needs)")


def easyr1_reward_file() -> Check:
    """Our reward file loaded the way EasyR1 loads it, scoring one sample."""
    from . import easyr1_reward_file as reward_file

    path = reward_file()
    try:
        spec = importlib.util.spec_from_file_location("custom_reward_fn", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        [score] = module.compute_score([{"response": "<think>x</think><answer>B</answer>", "response_length": 9, "ground_truth": "B"}])
    except Exception as e:  # noqa: BLE001 - the error EasyR1 would hit at its first batch
        return Check("EasyR1 reward file", "FAIL", f"{path}: {type(e).__name__}: {e}")
    if getattr(module, "REWARD_TYPE", None) != "batch" or score.get("overall") != 1.0:
        return Check("EasyR1 reward file", "FAIL", f"{path}: REWARD_TYPE={getattr(module, 'REWARD_TYPE', None)!r}, overall={score.get('overall')!r}")
    return Check("EasyR1 reward file", "OK", f"worker.reward.reward_function={path}:compute_score (REWARD_TYPE batch)")


# what verl's trainer imports on the way to training, and the package each import needs
TRAINER_IMPORTS = (
    ("V1 trainer (TaskRunnerV1)", "verl.trainer.ppo.v1", "trainer.use_v1=true, verl 0.9's default"),
    ("legacy trainer", "verl.trainer.main_ppo_v0", "trainer.use_v1=false"),
    ("rollout router", "verl.workers.rollout.router", "every trainer's agent loop"),
    ("reward-model router", "verl.experimental.reward_loop.router.naive_router", "reward.reward_model.enable=true"),
)
_TRAINER_PROBE = (
    "import importlib, json, sys\n"
    "out = {}\n"
    "for mod in sys.argv[1:]:\n"
    "    try:\n"
    "        importlib.import_module(mod)\n"
    "        out[mod] = None\n"
    "    except Exception as e:\n"
    "        out[mod] = [type(e).__name__, str(e), getattr(e, 'name', None)]\n"
    "print('PROBE ' + json.dumps(out))\n"
)


def trainer_imports() -> list[Check]:
    """Import verl's trainers and routers in a fresh process (as main_ppo would) and name the
    package a failing import misses: verl's wheel does not depend on TransferQueue, cachetools,
    fastapi or uvicorn (they are its ``verl-core`` extra), so ``main_ppo`` fails without them."""
    if importlib.util.find_spec("verl.experimental.reward_loop") is None:
        return [Check("trainer imports", "SKIP", "no verl 0.9 trainer here")]
    modules = [mod for _, mod, _ in TRAINER_IMPORTS]
    out = subprocess.run([sys.executable, "-c", _TRAINER_PROBE, *modules], capture_output=True, text=True, timeout=600)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")), None)
    if line is None:
        return [Check("trainer imports", "FAIL", f"the import probe crashed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")]
    results = json.loads(line[len("PROBE "):])
    checks = []
    for name, mod, needed_by in TRAINER_IMPORTS:
        err = results.get(mod)
        if err is None:
            checks.append(Check(name, "OK", f"{mod} imports"))
            continue
        kind, message, missing = err
        if kind == "ModuleNotFoundError" and missing:
            package = MISSING_PACKAGES.get(missing.split(".")[0], missing.split(".")[0])
            fix = f"missing package {package!r} (needed by {needed_by}): pip install 'wethink-verl[verl]' or pip install {package}"
        else:
            fix = f"{kind}: {message}"[:300]
        checks.append(Check(name, "FAIL", f"import {mod} failed: {fix}"))
    return checks


# import name -> PyPI name, where they differ
MISSING_PACKAGES = {"transfer_queue": "TransferQueue", "yaml": "pyyaml", "zmq": "pyzmq"}


def bounded_math() -> Check:
    from ..verifiers.math import symbolic_compare

    t0 = time.perf_counter()
    verdict = symbolic_compare("x^2+2x+1", "(x+1)^2", timeout=30)
    ms = (time.perf_counter() - t0) * 1000
    if verdict.score == 1.0:
        return Check("math-verify (bounded)", "OK", f"math-verify {_version('math-verify')} in a worker process, first call {ms:.0f} ms")
    return Check("math-verify (bounded)", "FAIL", f"{verdict.status}: {verdict.reason}")


def optional_imports() -> list[Check]:
    checks = []
    for module, why in (
        ("ray", "verl's reward loop and the Ray judge service"),
        ("qwen_vl_utils", "verl's multimodal datasets"),
        ("aiohttp", "the judge client"),
    ):
        if importlib.util.find_spec(module) is None:
            checks.append(Check(module, "WARN", f"not installed: needed by {why}"))
        else:
            checks.append(Check(module, "OK", _version(module.replace("_", "-")) or "installed"))
    if importlib.util.find_spec("torchvision") is not None:
        try:
            import torch
            import torchvision  # noqa: F401

            torch.ops.torchvision.nms  # noqa: B018 - the mismatched-pair failure shows up here
            checks.append(Check("torch/torchvision", "OK", f"torch {torch.__version__}, torchvision {torchvision.__version__}"))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("torch/torchvision", "FAIL", f"{e} (install torch and torchvision as a matched pair; verl's dataset drops image rows otherwise)"))
    return checks


def judge_endpoint(url: str, model: str | None) -> Check:
    """One test item to the judge (``judge.check.check_endpoint``): OK a verdict, WARN a reply
    without one (the model cannot follow the template), FAIL no reply."""
    from ..judge.check import check_endpoint

    try:
        status, detail = check_endpoint(url, model)
    except Exception as e:  # noqa: BLE001 - a doctor reports, it does not crash
        return Check("judge endpoint", "FAIL", f"{type(e).__name__}: {e}")
    return Check("judge endpoint", status, detail)


def run_checks(judge_url: str | None = None, judge_model: str | None = None) -> list[Check]:
    from ..version import __version__

    checks = [Check("wethink-verl", "OK", f"{__version__} at {os.path.dirname(os.path.dirname(__file__))}; Python {sys.version.split()[0]}")]
    host = host_framework()
    checks.append(host)
    if "EasyR1" in host.detail:
        checks += [easyr1_omegaconf(), easyr1_reward_file()]
    else:
        checks += [entry_point_declared(), plugins_policy(), registered_in_fresh_process()]
        checks += trainer_imports()
    checks.append(bounded_math())
    checks += optional_imports()
    if judge_url:
        checks.append(judge_endpoint(judge_url, judge_model))
    return checks
