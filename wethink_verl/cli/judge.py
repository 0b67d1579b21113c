"""``wethink-verl judge serve|check|stop|audit`` (``audit``: cli/judge_audit.py).

- ``serve --model DIR``: start our Ray judge service (a named actor with dynamic batching) and
  print its name, namespace and the Ray address clients join. With ``--address local`` (default)
  it starts a private Ray cluster and serves until interrupted; with ``--address auto`` or
  ``HOST:PORT`` it joins a running cluster, leaves a detached service there and exits.
- ``check URL``: send one test item to an OpenAI-compatible endpoint (or ``--ray-name`` for our
  service) and print the verdict and the latency. Exit status: 0 a valid verdict, 3 the endpoint
  replied without a valid verdict, 2 the endpoint failed (unreachable, timeout, HTTP error).
- ``stop``: kill the (detached) Ray judge service of that name and namespace — only if it is one
  of ours (a ``JudgeService`` actor), saying which cluster it joined (``--address auto``: the one
  ``RAY_ADDRESS`` or this machine's running cluster names) and what it found there. Exit status: 0
  stopped; 1 nothing of ours to stop (no cluster, no such service, or an actor of that name that
  is not ours, left alone); 2 a bad address or no connection within ``--timeout``.

Joining a cluster (``serve``/``stop`` with ``auto`` or ``HOST:PORT``) has a deadline: the address
must accept a connection and Ray must answer within ``--timeout`` seconds. ``serve`` checks that a
local ``--model`` path exists before starting Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from ..judge.check import CHECK_ITEM, judge_once
from .judge_audit import add_parser as add_audit_parser

SERVICE_CLASS = "wethink_verl.judge.service.JudgeService"  # the actor class wethink-verl starts
EXIT_NOTHING, EXIT_USAGE = 1, 2
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="the LLM judge: start our Ray judge service, check an endpoint")
    jsub = p.add_subparsers(dest="judge_command", required=True)

    s = jsub.add_parser("serve", help="start the Ray judge service and print its name and address")
    s.add_argument("--model", required=True, help="judge model: a local directory or a hub id")
    _ray_args(s)
    s.add_argument("--engine", default="auto", choices=["auto", "transformers", "vllm"], help="local backend (auto: vllm on a GPU when installed)")
    s.add_argument("--max-batch-size", type=int, default=16)
    s.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a batch waits for more requests")
    s.add_argument("--num-cpus", type=float, default=1)
    s.add_argument("--num-gpus", type=float, default=0)
    s.add_argument("--dtype", default="auto")
    s.add_argument("--max-input-tokens", type=int, default=4096)
    s.add_argument("--max-restarts", type=int, default=3)
    s.add_argument("--engine-kwargs", default="{}", help='JSON, e.g. \'{"max_model_len": 8192}\' for vLLM')
    s.add_argument("--ready-timeout", type=float, default=900.0, help="seconds to wait for the model to load")
    s.set_defaults(func=run_serve)

    c = jsub.add_parser("check", help="send one test item to a judge endpoint; print the verdict and latency")
    c.add_argument("url", nargs="?", help="OpenAI-compatible base URL (http://host:8000/v1) or verl's router host:port")
    c.add_argument("--model", default=None, help="model name (default: ask the endpoint's /v1/models)")
    c.add_argument("--api-key-env", default=None, help="environment variable holding the API key")
    c.add_argument("--ray-name", default=None, help="check our Ray judge service of this name instead of a URL")
    c.add_argument("--ray-namespace", default="wethink")
    c.add_argument("--ray-address", default="auto", help="Ray cluster to join for --ray-name")
    c.add_argument("--question", default=CHECK_ITEM["question"])
    c.add_argument("--reference", default=CHECK_ITEM["reference"])
    c.add_argument("--answer", default=CHECK_ITEM["answer"])
    c.add_argument("--template", default="default", help="template name or file")
    c.add_argument("--max-tokens", type=int, default=256)
    c.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    c.add_argument("--retries", type=int, default=1)
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=run_check)

    k = jsub.add_parser("stop", help="stop our Ray judge service (by name and namespace) in a running cluster")
    _ray_args(k, default_address="auto")
    k.set_defaults(func=run_stop)

    add_audit_parser(jsub)  # `judge audit`: its own module


def _ray_args(p: argparse.ArgumentParser, default_address: str = "local") -> None:
    p.add_argument("--name", default="wethink_judge", help="the service's Ray actor name")
    p.add_argument("--namespace", default="wethink", help="the service's Ray namespace")
    p.add_argument("--address", default=default_address,
                   help="Ray cluster: 'local' (start one, serve until interrupted), 'auto' or HOST:PORT (join; the service is detached)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to connect to a running cluster")


class RayConnectError(Exception):
    def __init__(self, message: str, status: int = EXIT_USAGE):
        super().__init__(message)
        self.status = status


def resolve_ray_address(address: str) -> tuple[str, str]:
    """(host:port, how it was found) for ``auto`` or an explicit address; RayConnectError if none."""
    if address != "auto":
        return address, "--address"
    from ray._private.services import canonicalize_bootstrap_address

    how = "RAY_ADDRESS" if os.environ.get("RAY_ADDRESS") else "the Ray cluster running on this machine (--address auto)"
    try:
        resolved = canonicalize_bootstrap_address("auto")
    except (ConnectionError, ValueError) as e:
        raise RayConnectError(f"no running Ray cluster found for --address auto ({e})", EXIT_NOTHING) from None
    if not resolved:
        raise RayConnectError("no running Ray cluster found for --address auto", EXIT_NOTHING)
    return resolved, how


def _reachable(address: str, timeout: float) -> None:
    if "://" in address:  # ray:// client addresses: Ray's own connect handles them
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayConnectError(f"--address {address!r} is not HOST:PORT, auto or local")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 10.0)).close()
    except OSError as e:
        raise RayConnectError(f"no Ray cluster at {address}: {e}") from None


def connect_ray(address: str, timeout: float):
    """``ray`` joined to a running cluster within ``timeout`` seconds, and a line saying which."""
    resolved, how = resolve_ray_address(address)
    _reachable(resolved, timeout)
    import ray

    def give_up() -> None:  # ray.init cannot be cancelled: the process ends with the message
        print(f"error: {resolved} accepts connections but no Ray cluster answered within {timeout:g} s (--timeout)", file=sys.stderr, flush=True)
        os._exit(EXIT_USAGE)

    watchdog = threading.Timer(timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        ray.init(address=resolved, log_to_driver=False, logging_level="error")
    finally:
        watchdog.cancel()
    return ray, f"Ray cluster at {ray.get_runtime_context().gcs_address} (from {how})"


def _init_ray(address: str, timeout: float = 30.0):
    if address == "local":
        import ray

        ray.init(include_dashboard=False, log_to_driver=True)
        return ray
    ray, joined = connect_ray(address, timeout)
    print(joined, flush=True)
    return ray


def _config_problem(judge_cfg: dict) -> str | None:
    """The reward config schema's verdict on these judge settings (flags map to judge.* keys)."""
    from ..reward.config import ConfigError, build_config

    try:
        build_config({"judge": judge_cfg})
    except ConfigError as e:
        return str(e)
    return None


def model_problem(model: str) -> str | None:
    """Why ``--model`` can be neither a local model directory nor a hub id, or None."""
    path = Path(model).expanduser()
    if path.is_dir():
        return None if (path / "config.json").is_file() else f"--model {model}: the directory has no config.json (not a model)"
    if path.exists():
        return f"--model {model} is a file, not a model directory"
    if model.startswith(("/", ".", "~")) or model.endswith("/") or not HUB_ID.fullmatch(model):
        return f"--model {model}: no such directory (and not a hub id like Qwen/Qwen2.5-7B-Instruct)"
    return None


def run_serve(args: argparse.Namespace) -> int:
    from ..judge.client import judge_config
    from ..judge.service import find_service, get_or_create_service

    problem = model_problem(args.model)  # before Ray starts: a typo costs no cluster
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        engine_kwargs = json.loads(args.engine_kwargs)
    except ValueError as e:
        print(f"--engine-kwargs is not JSON: {e}", file=sys.stderr)
        return EXIT_USAGE
    detached = args.address != "local"
    ray_cfg = judge_config({}).ray.to_dict()
    ray_cfg.update(
        name=args.name, namespace=args.namespace, model=args.model, engine=args.engine, max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms, num_cpus=args.num_cpus, num_gpus=args.num_gpus, dtype=args.dtype,
        max_input_tokens=args.max_input_tokens, max_restarts=args.max_restarts, engine_kwargs=engine_kwargs, detached=detached,
        address=args.address,
    )  # fmt: skip
    problem = _config_problem({"ray": ray_cfg})
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        ray = _init_ray(args.address, args.timeout)
    except RayConnectError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.status
    existed = find_service(args.name, args.namespace) is not None
    handle = get_or_create_service(ray_cfg)
    t0 = time.perf_counter()
    try:
        info = ray.get(handle.info.remote(), timeout=args.ready_timeout)
    except Exception as e:  # noqa: BLE001
        print(f"the judge service did not come up: {type(e).__name__}: {e}", file=sys.stderr)
        if not existed:
            ray.kill(handle, no_restart=True)
        return 1
    address = ray.get_runtime_context().gcs_address
    state = "already running" if existed else f"ready in {time.perf_counter() - t0:.1f} s"
    print(f"judge service {state}: name={args.name} namespace={args.namespace} address={address}")
    print(f"  backend={info['backend']} model={info['model']} max_batch_size={info['max_batch_size']} max_wait_ms={info['max_wait_ms']:g}")
    print(f"  use it with: judge.backend=ray judge.ray.name={args.name} judge.ray.namespace={args.namespace} judge.ray.address={address}")
    sys.stdout.flush()
    if detached:
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("serving until interrupted (Ctrl-C)", flush=True)
    stop.wait()
    ray.kill(handle, no_restart=True)
    ray.shutdown()
    return 0


def _actor_class(handle) -> str | None:
    """``module.Class`` of the actor behind a handle (what Ray recorded when it was created)."""
    descriptor = getattr(handle, "_ray_actor_creation_function_descriptor", None)
    if descriptor is None:
        return None
    return f"{getattr(descriptor, 'module_name', '?')}.{getattr(descriptor, 'class_name', '?')}"


def run_stop(args: argparse.Namespace) -> int:
    from ..judge.service import find_service

    where = f"{args.namespace}/{args.name}"
    if args.address == "local":
        print("error: --address local would start a new, empty cluster: give auto or the HOST:PORT `judge serve` printed", file=sys.stderr)
        return EXIT_USAGE
    try:
        ray, joined = connect_ray(args.address, args.timeout)
    except RayConnectError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.status
    try:
        print(joined)
        handle = find_service(args.name, args.namespace)
        if handle is None:
            print(f"no judge service {where} there: nothing stopped", file=sys.stderr)
            return EXIT_NOTHING
        found = _actor_class(handle)
        if found != SERVICE_CLASS:
            print(f"the actor {where} there is of class {found or '(unknown)'}, not {SERVICE_CLASS}: left alone", file=sys.stderr)
            return EXIT_NOTHING
        try:
            info = ray.get(handle.info.remote(), timeout=min(args.timeout, 10.0))
            about = f" (model {info.get('model')}, backend {info.get('backend')}, pid {info.get('pid')}, {info.get('requests', 0)} requests served)"
        except Exception as e:  # noqa: BLE001 - a stuck or restarting service is still ours to stop
            about = f" (not answering: {type(e).__name__})"
        ray.kill(handle, no_restart=True)
        print(f"stopped judge service {where}{about}")
        return 0
    finally:
        ray.shutdown()


def run_check(args: argparse.Namespace) -> int:
    from ..judge import build_judge

    cfg = {
        "enable": True, "template": args.template, "max_tokens": args.max_tokens, "timeout_s": args.timeout,
        "max_retries": args.retries, "parse_retries": 0, "cache_size": 0, "circuit_breaker": {"failures": 0},
        "model": args.model, "api_key_env": args.api_key_env,
    }  # fmt: skip
    if args.ray_name:
        cfg.update(backend="ray", ray={"name": args.ray_name, "namespace": args.ray_namespace, "address": args.ray_address})
    elif args.url:
        cfg.update(backend="http", url=args.url)
    else:
        print("give an endpoint URL or --ray-name", file=sys.stderr)
        return 2
    problem = _config_problem(cfg)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        judge = build_judge(cfg)
    except (ValueError, FileNotFoundError) as e:
        print(f"bad judge config: {e}", file=sys.stderr)
        return 2
    item = {"question": args.question, "reference": args.reference, "answer": args.answer}
    out, latency_ms = judge_once(judge, item)
    status = 0 if not out.failed else (3 if out.kind == "unparseable" else 2)
    if args.json:
        print(json.dumps({"endpoint": judge.transport.describe(), "latency_ms": round(latency_ms, 1), "exit_status": status, **out.as_dict()}))
        return status
    print(f"endpoint: {judge.transport.describe()}")
    if out.failed:
        print(f"verdict:  none ({out.kind})")
    else:
        print(f"verdict:  {out.score:g}")
    print(f"latency:  {latency_ms:.0f} ms ({out.attempts} request{'s' if out.attempts != 1 else ''})")
    print(f"reason:   {out.reason}")
    if out.reply is not None:
        print(f"reply:    {out.reply[:300]!r}")
    return status
