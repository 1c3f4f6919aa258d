"""A `requirements.txt` beside user code, installed as SageMaker's containers install it, but into an environment
of its own: a virtual environment that sees homeport's packages (`--system-site-packages`) and adds the model's.
Requirements homeport's environment already satisfies cost nothing; the rest come from the package index pip is
configured with. One environment per distinct file (by its bytes), kept under the cache and shared by the models
that ask for the same."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

INSTALL_TIMEOUT_S = 900.0
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


class RequirementsError(Exception):
    """pip could not install the requirements; the message has what it said."""


def site_packages(environment: Path) -> Path:
    relative = Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    return environment / relative


def install(requirements: Path, cache: Path, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """The environment (a directory) with `requirements` installed; made once per distinct file."""
    text = requirements.read_bytes()
    key = hashlib.sha256(text + sys.version.encode() + sys.prefix.encode()).hexdigest()[:20]
    target = cache / key
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if (target / ".installed").exists():
            return target
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".venv-", dir=cache))
        try:
            _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(work)], cache, timeout_s)
            python = work / "bin" / "python"
            pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check"]
            _run([*pip, "--no-input", "-r", str(requirements)], requirements.parent, timeout_s)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        (target / ".installed").touch()
        return target


def _run(argv: list[str], cwd: Path, timeout_s: float) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise RequirementsError(f"installing requirements.txt took longer than {timeout_s:.0f} s") from None
    if done.returncode != 0:
        said = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise RequirementsError(f"pip could not install requirements.txt: {' | '.join(said[-4:])}")
