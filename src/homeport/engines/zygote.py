"""`python -m homeport.engines.zygote`: a template process that forks model instances with their imports done.

An instance spends nearly all of its start (~0.4 s of ~0.45 s) importing numpy, pyarrow, xgboost, scipy and
uvicorn. The zygote imports them once, stays single-threaded, and forks one child per instance; a child only
sets up its environment, loads its model and serves, so an instance is ready in a few tens of milliseconds.

Protocol, one JSON object per line: the zygote says `{"ready": pid}` once its imports are done; homeport
writes `{"id", "argv", "env", "cwd", "log"}` on its stdin and reads `{"id", "pid"}` (or `{"id", "error"}`)
and, whenever a child ends, `{"exit": pid, "code": n}` (a negative code is the signal that ended it, as
`subprocess` reports it) on its stdout. The zygote ends when its stdin closes, and dies with homeport
(PR_SET_PDEATHSIG); each child dies with the zygote the same way.
Libraries initialised before the fork keep the zygote's environment: an instance's own OMP_NUM_THREADS or
OPENBLAS_NUM_THREADS do not re-size BLAS thread pools (the zygote runs BLAS single-threaded, which is also
what keeps the fork safe).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import selectors
import signal
import sys
import traceback
from typing import Any

# What the built-in runtimes import; loading them here is the point of the zygote. Pages a child only reads stay
# shared with it, so what is here costs memory once, however many instances fork. xgboost is imported lean (without
# scikit-learn, pandas and what they pull in: half the zygote's memory), as the algorithm container uses it; user
# code gets it whole (`xgboost_model.forget_lean_xgboost`). pyarrow is for batch transform's CSV path.
PRELOAD = (
    "numpy",
    "pyarrow",
    "pyarrow.csv",
    "pyarrow.compute",
    "scipy.sparse",
    "uvicorn",
    "uvicorn.protocols.http.httptools_impl",
    "uvloop",
    "httptools",
    "homeport.runtime.transport",
    "homeport.runtime.__main__",
    "homeport.runtime.loader",
    "homeport.runtime.server",
    "homeport.runtime.xgboost_model",
)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def preload() -> None:
    with contextlib.suppress(ImportError):
        # setproctitle finds argv's memory through the environment's first entry; importing xgboost rewrites
        # PATH, which moves that entry when PATH comes first, and a forked instance could no longer set its
        # title. Asking for the title once, now, makes it note where argv is before that happens.
        import setproctitle

        setproctitle.getproctitle()
    with contextlib.suppress(ImportError):  # first: nothing below may import xgboost whole
        importlib.import_module("homeport.runtime.xgboost_model").import_xgboost(lean=True)
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # an optional runtime that is not installed
            importlib.import_module(name)


def _child(request: dict[str, Any], inherited: list[int]) -> None:
    """In the forked child: become the instance. Never returns."""
    code = 1
    try:
        os.setsid()
        _die_with_parent()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in inherited:  # the zygote's control pipe, its wakeup pipe and its selector are not the child's
            with contextlib.suppress(OSError):
                os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        with contextlib.suppress(ImportError):  # ps shows what a fresh instance's command line would be
            import setproctitle  # (before the environment is replaced: it finds argv's memory through it)

            setproctitle.setproctitle(" ".join([sys.executable, "-m", "homeport.runtime", *request["argv"]]))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["python -m homeport.runtime", *request["argv"]]
        from homeport.runtime.__main__ import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve() -> int:
    _die_with_parent()
    preload()
    control = os.dup(1)  # replies go here; fd 1 and 2 stay for whatever libraries print
    os.dup2(2, 1)
    reader, wakeup = os.pipe()
    os.set_blocking(reader, False)
    os.set_blocking(wakeup, False)
    signal.set_wakeup_fd(wakeup)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wakeup fd is what tells the loop
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "request")
    selector.register(reader, selectors.EVENT_READ, "child")
    pending = b""

    def reply(message: dict[str, Any]) -> None:
        os.write(control, json.dumps(message).encode() + b"\n")

    reply({"ready": os.getpid()})

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            reply({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    while True:
        for key, _ in selector.select():
            if key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(reader, 4096)
                reap()
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                return 0  # homeport closed the pipe: it is going away
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as exc:
                    reply({"id": request["id"], "error": str(exc)})
                    continue
                if pid == 0:
                    _child(request, [control, reader, wakeup, selector.fileno()])
                reply({"id": request["id"], "pid": pid})
        reap()


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS threads before a fork
    sys.exit(serve())
