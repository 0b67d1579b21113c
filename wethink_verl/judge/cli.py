"""``wethink-verl judge serve|check|stop``.

- ``serve --model DIR``: start our Ray judge service (a named actor with dynamic batching) and
  print its name, namespace and the Ray address clients join. With ``--address local`` (default)
  it starts a private Ray cluster and serves until interrupted; with ``--address auto`` or
  ``HOST:PORT`` it joins a running cluster, leaves a detached service there and exits.
- ``check URL``: send one test item to an OpenAI-compatible endpoint (or ``--ray-name`` for our
  service) and print the verdict and the latency. Exit status: 0 a valid verdict, 3 the endpoint
  replied without a valid verdict, 2 the endpoint failed (unreachable, timeout, HTTP error).
- ``stop``: kill a (detached) Ray judge service by name.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

CHECK_ITEM = {
    "question": "What animal is sitting on the sofa in the picture, and what colour is it?",
    "reference": "A grey tabby cat.",
    "answer": "It is a grey cat with tabby stripes.",
}


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

    k = jsub.add_parser("stop", help="kill a Ray judge service by name")
    _ray_args(k, default_address="auto")
    k.set_defaults(func=run_stop)


def _ray_args(p: argparse.ArgumentParser, default_address: str = "local") -> None:
    p.add_argument("--name", default="wethink_judge", help="the service's Ray actor name")
    p.add_argument("--namespace", default="wethink", help="the service's Ray namespace")
    p.add_argument("--address", default=default_address,
                   help="Ray cluster: 'local' (start one, serve until interrupted), 'auto' or HOST:PORT (join; the service is detached)")  # fmt: skip


def _init_ray(address: str):
    import ray

    if address == "local":
        ray.init(include_dashboard=False, log_to_driver=True)
    else:
        ray.init(address=address, log_to_driver=False)
    return ray


def run_serve(args: argparse.Namespace) -> int:
    from .client import judge_config
    from .service import find_service, get_or_create_service

    try:
        engine_kwargs = json.loads(args.engine_kwargs)
    except ValueError as e:
        print(f"--engine-kwargs is not JSON: {e}", file=sys.stderr)
        return 2
    ray = _init_ray(args.address)
    detached = args.address != "local"
    ray_cfg = judge_config({})["ray"]
    ray_cfg.update(
        name=args.name, namespace=args.namespace, model=args.model, engine=args.engine, max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms, num_cpus=args.num_cpus, num_gpus=args.num_gpus, dtype=args.dtype,
        max_input_tokens=args.max_input_tokens, max_restarts=args.max_restarts, engine_kwargs=engine_kwargs, detached=detached,
        address=args.address,
    )  # fmt: skip
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


def run_stop(args: argparse.Namespace) -> int:
    from .service import find_service

    ray = _init_ray(args.address)
    handle = find_service(args.name, args.namespace)
    if handle is None:
        print(f"no judge service {args.namespace}/{args.name}", file=sys.stderr)
        return 1
    ray.kill(handle, no_restart=True)
    print(f"stopped judge service {args.namespace}/{args.name}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from . import build_judge

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
    try:
        judge = build_judge(cfg)
    except (ValueError, FileNotFoundError) as e:
        print(f"bad judge config: {e}", file=sys.stderr)
        return 2
    item = {"question": args.question, "reference": args.reference, "answer": args.answer}
    try:
        t0 = time.perf_counter()
        out = judge.judge_sync(item)
        latency_ms = (time.perf_counter() - t0) * 1000.0
    finally:
        judge.close()
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
