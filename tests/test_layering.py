"""Import boundaries the layout promises, checked in fresh processes: ``data`` (and each
``prepare`` worker) loads no verifier, scorer or judge; the row contract loads nothing heavy; the
CLI imports its sub-commands statically and still loads no scorer or framework to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def imported_after(statement: str, prefixes: str) -> list[str]:
    code = f"import json, import_probe; {statement}; print(json.dumps(import_probe.loaded(import_probe.{prefixes})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=TESTS)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


DATA_MODULES = ["wethink_verl.rows", "wethink_verl.data.schema", "wethink_verl.data.prepare", "wethink_verl.data.row_builder",
                "wethink_verl.data.workers"]  # fmt: skip


@pytest.mark.parametrize("module", DATA_MODULES)
def test_data_loads_no_verifier_scorer_or_judge(module):
    assert imported_after(f"import {module}", "REWARD_STACK") == []
    assert imported_after(f"import {module}", "FRAMEWORKS") == []


def test_a_prepare_worker_loads_no_verifier(tmp_path):
    """The worker processes ``prepare --workers N`` starts, after their real initializer ran."""
    code = (
        "import json, sys, import_probe\n"
        "from wethink_verl.data.row_builder import RowOptions, _init_worker\n"
        "from wethink_verl.data.workers import OrderedPool\n"
        "if __name__ == '__main__':\n"
        f"    pool = OrderedPool(2, import_probe.reward_stack_in_worker, _init_worker, (RowOptions(image_root={str(tmp_path)!r}), None))\n"
        "    try:\n"
        "        print(json.dumps(list(pool.map([[1], [2]]))))\n"
        "    finally:\n"
        "        pool.close(graceful=True)\n"
    )  # fmt: skip
    script = tmp_path / "probe_workers.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=TESTS, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [[], []]


def test_the_cli_starts_without_the_scorer_or_a_framework():
    statement = "import wethink_verl.cli; wethink_verl.cli.build_parser()"
    assert imported_after(statement, "SCORING") == []
    assert imported_after(statement, "FRAMEWORKS") == []


def test_a_missing_optional_dependency_stops_only_its_command(tmp_path):
    """``score --set`` reads values as YAML: without pyyaml it says so (exit 2, no traceback),
    while a command that needs no YAML still runs."""
    examples = TESTS.parent / "examples" / "rollouts.jsonl"
    code = (
        "import sys; sys.modules['yaml'] = None\n"  # an import of yaml now fails as if it were not installed
        "from wethink_verl.cli import main\n"
        f"print('path', main(['easyr1-reward-path']))\n"
        f"sys.exit(main(['score', '--input', {str(examples)!r}, '--output', {str(tmp_path / 'out.jsonl')!r}, '--set', 'format_weight=0.3', '--quiet']))\n"
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "path 0" in proc.stdout
    assert "wethink-verl score: this command needs a missing dependency" in proc.stderr and "yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_product_imports_no_harness():
    """``wethink_verl.testing`` serves tests, benchmarks and the demo; nothing else imports it
    (its old path ``integrations/verl_batch.py`` re-exports it for callers not yet moved)."""
    import ast

    package = TESTS.parent / "wethink_verl"
    users = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).as_posix()
        if rel.startswith(("testing/", "demo/")) or rel == "integrations/verl_batch.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            if any(n.startswith("wethink_verl.testing") or n.lstrip(".").startswith("testing") for n in names):
                users.append(rel)
    assert users == []


def package_imports(package: str) -> dict[str, set[str]]:
    """``wethink_verl`` modules each file of a package imports (statically, lazy imports in
    functions included), relative imports resolved."""
    import ast

    root = TESTS.parent / "wethink_verl"
    out = {}
    for path in (root / package).rglob("*.py"):
        rel = path.relative_to(root)
        here = ["wethink_verl", *rel.parent.parts]  # the package a relative import starts from
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
                module = ".".join(p for p in (base, node.module) if p)
                names.update([module] if node.module else [f"{module}.{a.name}" for a in node.names])
        out[rel.as_posix()] = {n for n in names if n.startswith("wethink_verl.")}
    return out


def test_the_judge_imports_no_reward_cli_data_or_verifier_module():
    """The judge grades one answer against a reference: the reward stack, the data readers, the
    verifiers and the commands (its own and ``judge audit``) import it, never the other way."""
    upward = ("wethink_verl.reward", "wethink_verl.cli", "wethink_verl.data", "wethink_verl.verifiers", "wethink_verl.audit")
    edges = {(rel, n) for rel, names in package_imports("judge").items() for n in names
             if any(n == u or n.startswith(u + ".") for u in upward)}  # fmt: skip
    assert not edges, sorted(edges)


HARNESSES = ("ScriptedJudgeServer", "RecordingProxy", "VLLMServer", "judge_python", "free_port", "compose_verl_config")


def test_the_harnesses_live_in_testing():
    """The scripted judge servers, the vLLM CPU server launcher and the verl batch builders are
    defined under ``testing/`` only (none left in ``judge/`` or another product package)."""
    import ast

    package = TESTS.parent / "wethink_verl"
    homes = {}
    for path in package.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in HARNESSES:
                homes.setdefault(node.name, set()).add(path.relative_to(package).parent.as_posix())
    assert homes == {name: {"testing"} for name in HARNESSES}


@pytest.mark.parametrize(
    "old, new, names",
    [
        ("wethink_verl.reward.scorer", "wethink_verl.rows", ["SAMPLE_FIELDS"]),
        ("wethink_verl.data.prepare", "wethink_verl.data.readers", ["InputError", "iter_records", "count_records"]),
        ("wethink_verl.data.schema", "wethink_verl.data.row_builder", ["RowBuilder", "RowOptions", "CleanRow"]),
    ],
)  # fmt: skip
def test_old_module_paths_still_give_the_same_objects(old, new, names):
    """Names a module gathers from the modules it was split into stay the same objects there."""
    import importlib

    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), (old, name)


@pytest.mark.parametrize("old", ["integrations.common", "integrations.verl_batch", "lru", "table", "offline", "reward.packed"])
def test_the_old_homes_of_moved_modules_are_gone(old):
    """Each moved module has one home (no re-export left at a path that names the wrong thing)."""
    import importlib.util

    assert importlib.util.find_spec(f"wethink_verl.{old}") is None


def test_every_relative_import_in_the_package_names_a_module_that_exists():
    """A module moved or removed leaves no importer behind (checked on the files, importing nothing:
    a lazy import inside a function would otherwise only fail when that path runs, e.g. the verl
    plugin registering the manager)."""
    import ast

    package = TESTS.parent / "wethink_verl"
    missing = []
    for path in package.rglob("*.py"):
        here = path.parent
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.parent
                target = base.joinpath(*node.module.split(".")) if node.module else base
                candidates = [target.with_suffix(".py"), target / "__init__.py"]
                if node.module is None:  # from . import x: each x is a module or a name of the package
                    continue
                if not any(c.exists() for c in candidates):
                    missing.append(f"{path.relative_to(package)}:{node.lineno} from {'.' * node.level}{node.module}")
    assert not missing, missing
