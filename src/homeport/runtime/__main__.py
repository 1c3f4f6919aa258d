"""`python -m homeport.runtime`: one model instance, serving the SageMaker container contract.

    python -m homeport.runtime --runtime {xgboost,sklearn,toolkit} --model-dir DIR \\
        (--uds PATH | --host HOST --port PORT) [--workers N]

The model is loaded before the server listens; if it cannot be, the process prints one line saying why
on stderr and exits with status 1 (2 for bad arguments or settings). SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from homeport.runtime.address import SECRET_ENV, RequireSecret
from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import ModelLoadError, first_line
from homeport.runtime.images import Runtime

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m homeport.runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", required=True, choices=[r.value for r in Runtime])
    parser.add_argument("--model-dir", required=True, type=Path, help="the unpacked model artifact")
    parser.add_argument("--uds", help="serve on this Unix socket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument(
        "--workers", type=int, help="threads for blocking work (default: SAGEMAKER_MODEL_SERVER_WORKERS or 1)"
    )
    args = parser.parse_args(argv)
    if (args.uds is None) == (args.port is None):
        parser.error("give either --uds PATH or --port N")
    if args.port is not None and not os.environ.get(SECRET_ENV):
        parser.error(f"serving on TCP needs a secret in {SECRET_ENV}: requests without it are refused")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        env = ContainerEnvironment.from_environ(os.environ, workers=args.workers)
    except ValueError as exc:
        print(f"homeport.runtime: {exc}", file=sys.stderr)
        return 2
    secret = os.environ.pop(SECRET_ENV, "")  # the model's code has no use for it
    logging.basicConfig(level=env.log_level, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    run_as_batch()
    if env.memory_limit_mb:
        limit_memory(env.memory_limit_mb)
        share_cpu(env.memory_limit_mb)
    pool = ThreadPoolExecutor(env.workers, thread_name_prefix="homeport-worker")
    try:
        app = container_app(Runtime(args.runtime), args.model_dir.resolve(), env, pool)
    except ModelLoadError as exc:
        print(f"homeport.runtime: {exc}", file=sys.stderr)
        return 1
    if env.memory_limit_mb and hasattr(app, "out_of_memory"):  # stop, finishing what else is in flight
        app.out_of_memory = lambda: os.kill(os.getpid(), signal.SIGTERM)
    where = {"uds": args.uds} if args.uds else {"host": args.host, "port": args.port}
    if secret:  # reached over TCP: only the front doors, which know the secret, get through
        app = RequireSecret(app, secret)
    config = server_config(app, env, **where)
    log.info("serving %s runtime on %s", args.runtime, args.uds or f"{args.host}:{args.port}")
    import uvicorn

    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return 0


def container_app(runtime: Runtime, model_dir: Path, env: ContainerEnvironment, pool: ThreadPoolExecutor) -> Any:
    """The model loaded and its container-contract app, or ModelLoadError with the one line that says why. With
    SAGEMAKER_MULTI_MODEL set, the multi-model container API, with no model loaded yet (`model_dir` unused)."""
    from homeport.runtime.loader import load_handler
    from homeport.runtime.server import ContainerApp

    if env.multi_model:
        from homeport.runtime.multi_model import multi_model_app

        return multi_model_app(runtime, env, pool)

    try:
        if env.pipeline:  # several containers in this one process
            from homeport.runtime.pipeline import pipeline_handler

            handler: Any = pipeline_handler(env.pipeline, load_handler, pool)
        else:
            handler = load_handler(runtime, model_dir, env, pool)
    except ModelLoadError:
        raise
    except MemoryError as exc:
        raise ModelLoadError(
            f"cannot load the model in {model_dir}: it needs more than the {env.memory_limit_mb} MB this instance may "
            "use (ServerlessConfig.MemorySizeInMB)"
            if env.memory_limit_mb
            else f"cannot load the model in {model_dir}: out of memory"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot load the model in {model_dir}: {type(exc).__name__}: {first_line(exc)}") from exc
    return ContainerApp(
        handler,
        max_payload_bytes=env.max_payload_bytes,
        workers=env.workers,
        max_payload_mb=env.max_payload_mb,
        memory_limit_mb=env.memory_limit_mb,
    )


def server_config(app: Any, env: ContainerEnvironment, **where: Any) -> Any:
    """uvicorn's settings for an instance's server (`where`: `uds=PATH`, or `host=` and `port=`)."""
    import uvicorn

    from homeport.runtime.transport import HttpProtocol

    return uvicorn.Config(
        app,
        **where,
        http=HttpProtocol,
        loop=_loop(),
        lifespan="off",
        access_log=False,
        log_level=max(env.log_level, logging.WARNING),
        proxy_headers=False,  # only homeport's data plane talks to an instance
        server_header=False,
        date_header=False,
        timeout_keep_alive=75,  # outlive the data plane's idle pooled connections
    )


def limit_memory(megabytes: int) -> None:
    """Hold this process's private writable memory (Linux's RLIMIT_DATA: its heap and anonymous maps, what it has
    allocated rather than what it maps from files) to `megabytes`: an allocation past it fails with MemoryError."""
    import resource

    limit = megabytes * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError) as exc:  # a platform without it: the limit is not enforced, and the log says so
        log.warning("could not limit memory to %d MB: %s", megabytes, exc)


FULL_SHARE_MB = 6144  # the largest serverless memory size: a full CPU share, as an instance's
NICE_STEP = 1.25  # Linux's scheduler gives each nice level about 1.25x the CPU weight of the next


def nice_for(megabytes: int) -> int:
    """The nice level whose CPU weight is `megabytes`' share of a full one (6144 MB: 0; 1024 MB: 8, a sixth)."""
    return max(0, round(math.log(FULL_SHARE_MB / max(megabytes, 1)) / math.log(NICE_STEP)))


def share_cpu(megabytes: int) -> None:
    """Take the CPU share AWS gives a serverless variant of this memory size: a smaller one gets proportionally less
    of a busy machine (the scheduler's weights; an idle machine still gives it all it asks for)."""
    try:
        os.nice(nice_for(megabytes))
    except OSError as exc:
        log.warning("could not lower the CPU share for %d MB: %s", megabytes, exc)


def run_as_batch() -> None:
    """Schedule this process (and the threads it starts) as SCHED_BATCH, where Linux has it.

    An instance usually shares cores with homeport's front door. A normal-policy process woken by a request
    preempts the one that wrote it, so the front door would be cut off after each forward and the instance
    would see, and predict, one request at a time. A batch-policy process is not allowed to preempt on
    wake-up: it runs once the front door has forwarded everything that step and blocks, finds all of those
    requests waiting, and micro-batches them. Its share of the CPU is unchanged. (bench/invoke.py: about a
    third more single-record throughput at concurrency 16 on one shared core; no change at concurrency 1.)
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as exc:  # a sandbox that forbids it: serving works the same, only less batched
            log.info("could not switch to SCHED_BATCH: %s", exc)


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    sys.exit(main())
