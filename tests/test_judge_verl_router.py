"""The judge client behind verl's real reward-model router (``NaiveRouter`` from
``verl.experimental.reward_loop.router.naive_router``, the process verl starts for an in-cluster
judge), with the scripted judge server behind it: the router turns the judge's 400 into a bare 500,
which the client must recognise as a client error (one attempt, the breaker untouched), while a
judge that is down stays a server error (retried, counted toward the breaker)."""

from __future__ import annotations

import multiprocessing
import socket
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("verl")

from wethink_verl.judge import build_judge  # noqa: E402
from wethink_verl.testing.judge_servers import ScriptedJudgeServer  # noqa: E402
from wethink_verl.testing.ports import free_port  # noqa: E402


def _wait_listening(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"verl's router did not listen on {port} within {timeout_s} s")


@pytest.fixture(scope="module")
def routers():
    """verl's router in front of the scripted judge, and one in front of a judge that is down
    (a port nothing listens on): what launch_router_process starts, bound to loopback."""
    from verl.experimental.reward_loop.router.naive_router import run_router

    server = ScriptedJudgeServer(default="score=1").start()
    ctx = multiprocessing.get_context("spawn")
    ports, procs = {}, []
    for name, upstream in (("live", server.address), ("down", f"127.0.0.1:{free_port()}")):
        ports[name] = free_port()
        procs.append(ctx.Process(target=run_router, args=("127.0.0.1", ports[name], [f"http://{upstream}"]), daemon=True))
        procs[-1].start()
    try:
        for port in ports.values():
            _wait_listening(port)
        yield server, {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)
        server.stop()


async def test_router_wrapped_400_is_a_client_error(routers):
    server, router = routers[0], routers[1]["live"]
    judge = build_judge({"enable": True, "max_retries": 3, "backoff_s": 0.01, "timeout_s": 30}, reward_router_address=router)
    try:
        ok = await judge.judge({"question": "Q", "reference": "a cat", "answer": "a cat"})
        bad = await judge.judge({"question": "Q [[script: 400x9]]", "reference": "a cat", "answer": "a dog"})
        s = judge.stats_dict()
    finally:
        await judge.aclose()
        judge.close()
    assert not ok.failed and ok.score == 1.0  # the router passes verdicts through
    assert bad.failed and bad.kind == "client_error" and bad.attempts == 1, bad
    assert "HTTP 500: Internal Server Error from verl's reward router" in bad.reason
    assert server.by_behaviour["400"] == 1  # sent once, never retried
    assert s["errors_by_kind"] == {"client_error": 1} and s["retries"] == 0
    assert judge.breaker._consecutive == 0


async def test_router_500_with_the_judge_down_is_a_server_error(routers):
    router = routers[1]["down"]  # the replica died: the router's connection attempts fail, it answers 500
    judge = build_judge({"enable": True, "max_retries": 0, "timeout_s": 30, "model": "m"}, reward_router_address=router)
    try:
        out = await judge.judge({"question": "Q", "reference": "a cat", "answer": "a cat"})
    finally:
        await judge.aclose()
        judge.close()
    assert out.failed and out.kind == "server_error" and out.attempts == 1, out  # a retryable kind
    assert judge.breaker._consecutive == 1
