#!/usr/bin/env python3
"""Run the chapter's notebook (`chapter.py`) against homeport: start a `homeport serve` on a temporary data
directory (or use `--endpoint-url`), set the environment the notebook reads, and run it as it is.

    python examples/chapter/run.py
    python examples/chapter/run.py --endpoint-url http://127.0.0.1:8080   # signed with HOMEPORT_ACCESS_KEY_ID/…
"""

from __future__ import annotations

import argparse
import inspect
import os
import runpy
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="a homeport server to use (default: start one for the run)")
    parser.add_argument("--output", type=Path, default=HERE / "output", help="where the notebook writes")
    parser.add_argument(
        "--sdk-poll",
        type=float,
        default=1.0,
        help="seconds between the SDK's status checks (default 1; the SDK's own: 5 to 30)",
    )
    args = parser.parse_args(argv)
    quicker_polls(args.sdk_poll)
    # The SDK's telemetry calls an AWS host after each fit, deploy and transform; opt out (machines here have no
    # internet, and the call would only fail).
    config = args.output / "sagemaker-config.yaml"
    args.output.mkdir(parents=True, exist_ok=True)
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    wiring = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        "CHAPTER_ROLE": "arn:aws:iam::000000000000:role/homeport-chapter",
        "CHAPTER_BUCKET": "chapter",
        "CHAPTER_OUTPUT": str(args.output),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "MPLBACKEND": "Agg",  # the plot goes to a file
    }
    if args.endpoint_url:
        keys = os.environ.get("HOMEPORT_ACCESS_KEY_ID"), os.environ.get("HOMEPORT_SECRET_ACCESS_KEY")
        return run({**wiring, "AWS_ENDPOINT_URL": args.endpoint_url}, *keys)
    from homeport.server.process import ServerProcess

    with tempfile.TemporaryDirectory(prefix="homeport-chapter-") as data_dir, ServerProcess(Path(data_dir)) as server:
        print(f"started homeport at {server.url}", flush=True)
        return run({**wiring, "AWS_ENDPOINT_URL": server.url}, server.access_key_id, server.secret_access_key)


def quicker_polls(seconds: float) -> None:
    """The SDK's waits sleep before each look, 30 s for an endpoint and 5 to 10 s for a job: sized for AWS, where
    each takes minutes. homeport's take a second or two, so at the SDK's own intervals the notebook would spend
    most of its time asleep. Only the defaults of `poll` change; the notebook's code and calls stay as for AWS."""
    from sagemaker import session

    waits = [
        getattr(session.Session, name) for name in dir(session.Session) if name.startswith(("wait_for", "logs_for"))
    ]
    for fn in [*waits, session._wait_until, session._wait_until_training_done]:
        positional = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.default is not p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if "poll" in positional:
            defaults = list(fn.__defaults__ or ())
            defaults[positional.index("poll")] = seconds
            fn.__defaults__ = tuple(defaults)


def run(env: dict[str, str], key_id: str | None, secret: str | None) -> int:
    threading.excepthook = _quiet_pollers
    os.environ.update(env)
    if key_id and secret:
        os.environ.update({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
    runpy.run_path(str(HERE / "chapter.py"), run_name="__main__")
    return 0


def _quiet_pollers(hook: threading.ExceptHookArgs) -> None:
    """`AsyncPredictor.get_result` races two threads, one waiting for the output and one for the failure object;
    the loser polls on after the notebook ends and meets the stopped server. Say so in one line."""
    if hook.thread is not None and hook.thread.name.endswith(("(check_output_file)", "(check_failure_file)")):
        print(f"(the SDK's {hook.thread.name} poller stopped with the server)", file=sys.stderr)
        return
    threading.__excepthook__(hook)


if __name__ == "__main__":
    sys.exit(main())
