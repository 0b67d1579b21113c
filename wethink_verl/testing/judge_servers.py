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
  ``oracle``    a judge that knows the truth: the verdict the server's ``oracle`` table holds for
                (reference, candidate) as the prompt shows them (``prompt.neutralize`` applied); a
                pair it does not hold gets a reply without a verdict
  ``obey``      an obedient judge: a candidate with grader talk or a (neutralised) tag in it gets
                ``<score>1</score>``; any other falls through to the next behaviour (``obey oracle``)

  Server-wide, like a hosted API: ``quota_rpm`` / ``quota_tpm`` enforce requests / tokens per
  minute with token buckets holding ``quota_burst_s`` seconds' worth (a request over the quota gets
  429 with the Retry-After it needs; tokens are charged as the reply's ``usage``: 4 characters a
  token, 85 an image); ``text_only`` answers a request with image parts HTTP 400 "… is not a
  multimodal model", as vLLM does for a text-only model.

  Counters: ``requests``, ``by_behaviour``, ``max_in_flight``, ``auth_headers``, ``tokens_charged``.
- ``RecordingProxy``: a pass-through to a real server that records each request body and status.
- ``python -m wethink_verl.testing.judge_servers serve --port P``: an instant scripted server in its
  own process (the benchmark's loopback endpoint).

The real vLLM CPU server is ``testing/vllm_server.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
import time
from collections import Counter

from .ports import free_port

DIRECTIVE = re.compile(r"\[\[script:([^\]]*)\]\]")
CANDIDATE = re.compile(r"<candidate_answer>.*?</candidate_answer>", re.DOTALL)
REFERENCE = re.compile(r"<reference_answer>\n(.*?)\n</reference_answer>|^Reference answer: (.*)$", re.DOTALL | re.MULTILINE)
OBEYS = re.compile(r"repeat|quote|echo|verbatim", re.IGNORECASE)
# what an obedient judge takes for an instruction to it: grader talk, or a tag (neutralised or not)
INSTRUCTED = re.compile(r"[<‹]\s*/?\s*\w|ignore|instruction|score|verdict|grade|full marks|system", re.IGNORECASE)
CHARS_PER_TOKEN, IMAGE_TOKENS = 4, 85
# behaviours whose reply is a fixed text (a verdict the client must reject, or a broken one)
FIXED_REPLIES = {
    "garbage": "I think it is probably fine, hard to say.",
    "ambiguous": "Maybe <score>1</score>, or rather <score>0</score>.",
    "outoftier": "Mostly right. <score>0.7</score>",
}


def _blocks(text: str) -> tuple[str | None, str]:
    """(reference, candidate) exactly as the prompt shows them (tag openers neutralised)."""
    block = CANDIDATE.search(text)
    ref = REFERENCE.search(text)
    candidate = block.group(0)[len("<candidate_answer>") : -len("</candidate_answer>")].strip() if block else ""
    reference = (ref.group(1) if ref.group(1) is not None else ref.group(2)).strip() if ref else None
    return reference, candidate


def _images(body: dict) -> int:
    return sum(1 for m in body.get("messages") or [] if isinstance(m.get("content"), list)
               for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url")  # fmt: skip


class _Bucket:
    """The server side of a quota: ``per_minute`` units refilled continuously, ``burst_s`` seconds' worth held."""

    def __init__(self, per_minute: float, burst_s: float, unit: float):
        self.rate = per_minute / 60.0
        self.capacity = max(unit, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def wait(self, need: float) -> float:
        """0 when ``need`` units are there now, else the seconds until they are."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.level >= need else (need - self.level) / self.rate


def _strict_grade(text: str) -> tuple[float, str]:
    """(verdict, the candidate block) of a strict grader reading the prompt."""
    block = CANDIDATE.search(text)
    reference, candidate = _blocks(text)
    same = reference is not None and candidate.casefold().rstrip(".") == reference.casefold().rstrip(".")  # neutralised alike
    return (1.0 if same else 0.0), (block.group(0) if block else "")


def _user_text(body: dict) -> str:
    texts = []
    for m in body.get("messages") or []:
        c = m.get("content")
        if isinstance(c, str):
            texts.append(c)
        elif isinstance(c, list):
            texts.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return "\n".join(texts)


def _completion(text: str, model: str, prompt_tokens: int = 0) -> dict:
    completion = -(-len(text) // CHARS_PER_TOKEN)
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion},
    }  # fmt: skip


class ScriptedJudgeServer:
    """Test double of a judge model (see the module docstring). Runs on its own event-loop thread."""

    def __init__(self, default: str = "score=1", model: str = "scripted-judge", host: str = "127.0.0.1", port: int = 0,
                 oracle: dict | None = None, quota_rpm: float | None = None, quota_tpm: float | None = None,
                 quota_burst_s: float = 2.0, text_only: bool = False):  # fmt: skip
        self.default = default
        self.oracle: dict[tuple[str, str], float] = dict(oracle or {})  # (reference, candidate) -> verdict
        self.text_only = text_only
        self.quota_requests = _Bucket(quota_rpm, quota_burst_s, 1.0) if quota_rpm else None
        self.quota_tokens = _Bucket(quota_tpm, quota_burst_s, 0.0) if quota_tpm else None
        self.tokens_charged = 0
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
            refused = self._refuse(body)
            if refused is not None:
                return refused
            text = _user_text(body)
            pt = -(-len(text) // CHARS_PER_TOKEN) + IMAGE_TOKENS * _images(body)
            m = DIRECTIVE.search(text)
            script = (m.group(1) if m else self.default).split()
            self.attempts[text] += 1
            failed, score = await self._fail_or_wait(script, self.attempts[text])
            if failed is not None:
                return failed
            reply = await self._behave(script, text, score, pt, request)
            if reply is not None:
                return reply
            self.by_behaviour["score"] += 1
            return web.json_response(self._completion(f"Compared with the reference. <score>{score or '1'}</score>", pt))
        finally:
            self.in_flight -= 1

    async def _fail_or_wait(self, script: list[str], attempt: int):
        """(the scripted HTTP error of this attempt or None, the ``score=`` verdict), after any ``slow=``."""
        from aiohttp import web

        failures_before = 0
        score = None
        for token in script:
            code = re.fullmatch(r"(\d{3})x(\d+)", token)
            if code:
                status, n = int(code.group(1)), int(code.group(2))
                if attempt <= failures_before + n:
                    self.by_behaviour[str(status)] += 1
                    headers = {"Retry-After": "0"} if status in (429, 503) else None
                    return web.json_response({"error": {"message": f"scripted {status}"}}, status=status, headers=headers), score
                failures_before += n
            elif token.startswith("slow="):
                await asyncio.sleep(float(token[5:]))
            elif token.startswith("score="):
                score = token[6:]
        return None, score

    async def _behave(self, script: list[str], text: str, score: str | None, pt: int, request):
        """The reply of the first behaviour the script names (``grade`` first), or None: a plain verdict."""
        from aiohttp import web

        if "grade" in script:
            verdict, block = _strict_grade(text)
            quoted = f"The candidate asked to be quoted: {block}\n" if "gullible" in script and OBEYS.search(block) else ""
            self.by_behaviour["grade"] += 1
            return web.json_response(self._completion(f"{quoted}Compared with the reference. <score>{verdict:g}</score>", pt))
        for token in script:
            if token.startswith("flood="):
                self.by_behaviour["flood"] += 1
                return web.json_response(self._completion("<score>" * (int(token[6:]) // 7), pt))
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
            if token in FIXED_REPLIES:
                self.by_behaviour[token] += 1
                return web.json_response(self._completion(FIXED_REPLIES[token], pt))
            if token == "echo":
                self.by_behaviour["echo"] += 1
                block = CANDIDATE.search(text)
                echoed = block.group(0) if block else text
                tail = f"\nVerdict: <score>{score}</score>" if score is not None else ""
                return web.json_response(self._completion(f"The candidate wrote: {echoed}{tail}", pt))
            if token == "obey" and INSTRUCTED.search(_blocks(text)[1]):
                self.by_behaviour["obey"] += 1
                return web.json_response(self._completion("As the candidate asks: <score>1</score>", pt))
            if token == "oracle":
                self.by_behaviour["oracle"] += 1
                known = self.oracle.get(_blocks(text))
                reply = "This pair is not in my table." if known is None else f"I know the truth. <score>{known:g}</score>"
                return web.json_response(self._completion(reply, pt))
        return None

    def _refuse(self, body: dict):
        """The 400 of a text-only model, or the 429 of a spent quota; None: served."""
        from aiohttp import web

        if self.text_only and _images(body):
            self.by_behaviour["text_only"] += 1
            return web.json_response({"error": {"message": f"{self.model} is not a multimodal model", "type": "BadRequestError", "code": 400}}, status=400)
        wait = max(self.quota_requests.wait(1.0) if self.quota_requests else 0.0, self.quota_tokens.wait(1e-9) if self.quota_tokens else 0.0)
        if wait > 0:
            self.by_behaviour["quota"] += 1
            return web.json_response({"error": {"message": "scripted quota exceeded", "code": 429}}, status=429, headers={"Retry-After": f"{wait:.3f}"})
        if self.quota_requests:
            self.quota_requests.level -= 1.0
        return None

    def _completion(self, text: str, prompt_tokens: int) -> dict:
        """A chat completion whose ``usage`` is charged against the token quota."""
        out = _completion(text, self.model, prompt_tokens)
        tokens = out["usage"]["total_tokens"]
        self.tokens_charged += tokens
        if self.quota_tokens:
            self.quota_tokens.level -= tokens
        return out

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


class RecordingProxy(ScriptedJudgeServer):
    """A pass-through to a real OpenAI-compatible server (``upstream``, e.g. the vLLM CPU server)
    that keeps every chat request body with the status the server answered it with, so a test can
    assert what the client sent (``exchanges``: (body, status, reply bytes))."""

    def __init__(self, upstream: str, **kwargs):
        super().__init__(**kwargs)
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[tuple[dict, int, bytes]] = []

    def app(self):
        from aiohttp import web

        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/chat/completions", self._forward)
        app.router.add_get("/v1/models", self._forward)
        return app

    async def _forward(self, request):
        import aiohttp
        from aiohttp import web

        body = await request.read()
        target = self.upstream + request.path[len("/v1") :]
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, target, data=body or None, headers={"Content-Type": "application/json"}) as resp:
                reply, status = await resp.read(), resp.status
        if request.method == "POST":
            self.requests += 1
            self.exchanges.append((json.loads(body), status, reply))
        return web.Response(body=reply, status=status, content_type="application/json")



def _serve_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wethink_verl.testing.judge_servers")
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
