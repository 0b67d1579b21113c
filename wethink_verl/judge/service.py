"""Our Ray judge service: a named async Ray actor with dynamic batching over a local backend.

- Named (``judge.ray.name`` in ``judge.ray.namespace``), created with ``get_if_exists=True`` so
  any number of reward workers share one service; ``max_restarts`` lets Ray restart it after a
  crash. A restart of our own service is not an outage: a request that meets it waits (within its
  timeout) until the restarted actor answers a ping and is then sent again, without touching the
  client's retries or circuit breaker; an actor that is gone for good is re-resolved by name.
- Dynamic batching: each ``generate`` call is queued; a batcher takes the first request, waits up
  to ``max_wait_ms`` for more (up to ``max_batch_size``, same sampling params), and runs one
  backend call in a worker thread while new requests queue up for the next batch.
- ``RayServiceTransport`` is the client side: ``LLMJudge`` calls it exactly like an HTTP endpoint,
  so the Ray service gets the same timeouts, retries, dedupe, circuit breaker and fallback.

Ray is imported lazily; the backend (torch/transformers or vLLM) only inside the actor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from ..settings import thaw
from .config import RayServiceConfig
from .types import TransportError

logger = logging.getLogger("wethink_verl.judge.service")

SERVICE_KEYS = ("model", "engine", "max_batch_size", "max_wait_ms", "dtype", "max_input_tokens", "engine_kwargs")


class JudgeService:
    """The actor body (wrapped with ``ray.remote`` by ``get_or_create_service``)."""

    def __init__(self, cfg: Mapping[str, Any]):
        from .backends import make_backend

        self.cfg = RayServiceConfig.from_mapping(cfg)
        self.started_at = time.time()
        t0 = time.perf_counter()
        self.backend = make_backend(self.cfg)
        self.load_s = time.perf_counter() - t0
        self.max_batch_size = max(1, int(self.cfg.max_batch_size))
        self.max_wait_s = max(0.0, float(self.cfg.max_wait_ms) / 1000.0)
        self._queue: asyncio.Queue | None = None
        self._batcher: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="judge-backend")
        self.counters: Counter = Counter()
        self.batch_sizes: Counter = Counter()
        self.busy_s = 0.0

    # ---- remote methods -----------------------------------------------------------------------
    async def generate(self, messages: list[dict], params: Mapping[str, Any]) -> dict:
        """One conversation -> {"text"} or {"error", "kind"} (batched with concurrent calls)."""
        self._ensure_batcher()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.counters["requests"] += 1
        await self._queue.put((loop.time(), messages, dict(params), fut))
        return await fut

    async def generate_many(self, conversations: list[list[dict]], params: Mapping[str, Any]) -> list[dict]:
        return list(await asyncio.gather(*(self.generate(c, params) for c in conversations)))

    async def info(self) -> dict:
        batches = self.counters["batches"]
        return {
            "backend": self.backend.name,
            "model": self.backend.model_name,
            "max_batch_size": self.max_batch_size,
            "max_wait_ms": self.max_wait_s * 1000.0,
            "load_s": round(self.load_s, 3),
            "started_at": self.started_at,
            "pid": os.getpid(),
            "requests": self.counters["requests"],
            "batches": batches,
            "items": self.counters["items"],
            "errors": self.counters["errors"],
            "mean_batch_size": self.counters["items"] / batches if batches else 0.0,
            "max_batch_seen": max(self.batch_sizes) if self.batch_sizes else 0,
            "batch_sizes": dict(sorted(self.batch_sizes.items())),
            "busy_s": round(self.busy_s, 3),
            "queued": self._queue.qsize() if self._queue is not None else 0,
            "images_dropped": getattr(self.backend, "images_dropped", 0),
        }

    async def ping(self) -> str:
        return "ok"

    # ---- batching -----------------------------------------------------------------------------
    def _ensure_batcher(self) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.get_running_loop().create_task(self._batch_loop())

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        pending: list = []  # requests taken from the queue that did not fit the last batch's params
        while True:
            if not pending:
                pending.append(await queue.get())
            first_at = pending[0][0]
            while len(pending) < self.max_batch_size:
                remaining = first_at + self.max_wait_s - loop.time()
                if remaining <= 0:
                    while len(pending) < self.max_batch_size and not queue.empty():
                        pending.append(queue.get_nowait())
                    break
                try:
                    pending.append(await asyncio.wait_for(queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            key = json.dumps(pending[0][2], sort_keys=True, default=str)
            batch = [r for r in pending if json.dumps(r[2], sort_keys=True, default=str) == key][: self.max_batch_size]
            taken = {id(r) for r in batch}
            pending = [r for r in pending if id(r) not in taken]
            batch = [r for r in batch if not r[3].done()]  # callers that gave up
            if not batch:
                continue
            t0 = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.backend.generate, [r[1] for r in batch], batch[0][2])
            except Exception as e:  # noqa: BLE001 - the batch fails, the service lives
                logger.exception("judge backend failed on a batch of %d", len(batch))
                results = [{"error": f"backend {type(e).__name__}: {e}"[:300], "kind": "server_error"}] * len(batch)
            self.busy_s += time.perf_counter() - t0
            self.counters["batches"] += 1
            self.counters["items"] += len(batch)
            self.batch_sizes[len(batch)] += 1
            for r, res in zip(batch, results):
                if "error" in res:
                    self.counters["errors"] += 1
                if not r[3].done():
                    r[3].set_result(res)


# ---- client side --------------------------------------------------------------------------------
def ensure_ray(address: str | None = "auto"):
    import ray

    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(include_dashboard=False, ignore_reinit_error=True)
        elif address == "auto":
            try:
                ray.init(address="auto", ignore_reinit_error=True)
            except ConnectionError:
                ray.init(include_dashboard=False, ignore_reinit_error=True)
        else:
            ray.init(address=address, ignore_reinit_error=True)
    return ray


def service_config(ray_cfg: RayServiceConfig) -> dict:
    """What the actor is built from, in plain form (what crosses the Ray boundary)."""
    return {k: thaw(getattr(ray_cfg, k)) for k in SERVICE_KEYS}


def find_service(name: str = "wethink_judge", namespace: str = "wethink"):
    """The running service's handle, or None."""
    import ray

    try:
        return ray.get_actor(name, namespace=namespace)
    except ValueError:
        return None


def get_or_create_service(ray_cfg: RayServiceConfig | Mapping[str, Any], create: bool = True):
    """The named service (get-if-exists); created from ``ray_cfg`` (``judge.ray``) when missing and ``create``."""
    ray_cfg = RayServiceConfig.from_mapping(ray_cfg)
    ray = ensure_ray(ray_cfg.address)
    name, namespace = ray_cfg.name, ray_cfg.namespace
    handle = find_service(name, namespace)
    if handle is not None:
        return handle
    if not create or not ray_cfg.model:
        raise TransportError("connection", f"no Ray judge service {name!r} in namespace {namespace!r} (and judge.ray.model is not set to start one)")
    options = dict(
        name=name, namespace=namespace, get_if_exists=True, max_restarts=int(ray_cfg.max_restarts),
        max_task_retries=0, max_concurrency=4096, num_cpus=float(ray_cfg.num_cpus), num_gpus=float(ray_cfg.num_gpus),
    )  # fmt: skip
    if ray_cfg.detached:
        options["lifetime"] = "detached"
    logger.info("starting the Ray judge service %s/%s on %s", namespace, name, ray_cfg.model)
    return ray.remote(JudgeService).options(**options).remote(service_config(ray_cfg))


class RayServiceTransport:
    """The transport ``LLMJudge`` uses for backend "ray"."""

    name = "ray"

    def __init__(self, ray_cfg: RayServiceConfig | Mapping[str, Any]):
        self.ray_cfg = RayServiceConfig.from_mapping(ray_cfg)
        self._handle = None

    def describe(self) -> str:
        return f"ray://{self.ray_cfg.namespace}/{self.ray_cfg.name}"

    def _resolve(self):
        if self._handle is None:
            self._handle = get_or_create_service(self.ray_cfg, create=True)
        return self._handle

    async def handle(self):
        if self._handle is not None:
            return self._handle
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self._resolve)
        except TransportError:
            raise
        except Exception as e:  # noqa: BLE001 - cannot reach Ray at all
            raise TransportError("connection", f"Ray judge service unavailable: {type(e).__name__}: {e}"[:300]) from e

    async def complete(self, messages: list[dict], params: Mapping[str, Any], timeout: float) -> str:
        import ray
        from ray import exceptions as rex

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        handle = await self.handle()
        while True:
            ref = handle.generate.remote(messages, dict(params))
            try:
                res = await asyncio.wait_for(_await_ref(ref), max(0.001, deadline - loop.time()))
                break
            except asyncio.TimeoutError as e:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001
                    pass
                raise TransportError("timeout", f"no reply from the Ray judge service within {timeout:g} s") from e
            except (rex.RayActorError, rex.ActorUnavailableError) as e:
                handle = await self._await_restart(deadline, e)  # then the request goes again
            except rex.RayError as e:
                raise TransportError("server_error", f"Ray judge service error: {type(e).__name__}: {e}"[:300]) from e
        if "error" in res:
            raise TransportError(res.get("kind", "server_error"), f"judge service: {res['error']}")
        return res["text"]

    async def _await_restart(self, deadline: float, why: Exception):
        """The service's handle once it answers a ping again (Ray restarting it, or a new actor
        under its name), polled until ``deadline``; else a connection failure."""
        from ray import exceptions as rex

        loop = asyncio.get_running_loop()
        logger.info("the Ray judge service %s is unavailable (%s): waiting for it", self.describe(), type(why).__name__)
        while loop.time() < deadline:
            self._handle = None
            handle = await self.handle()  # the name resolves while Ray restarts the actor
            try:
                await asyncio.wait_for(_await_ref(handle.ping.remote()), max(0.001, min(5.0, deadline - loop.time())))
                return handle
            except (rex.RayActorError, rex.ActorUnavailableError, asyncio.TimeoutError):
                await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
        raise TransportError("connection", f"Ray judge service unavailable ({type(why).__name__}) and not back in time"[:300]) from why

    async def aclose(self) -> None:
        return None


async def _await_ref(ref):
    return await ref
