"""Starting one model instance, the same way for endpoints and transform jobs: fetch the model, start the
process through the engine, and check it with `/ping`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable
from homeport.dataplane.direct import DirectClient
from homeport.dataplane.instances import Instance, InstanceState
from homeport.engines import requirements
from homeport.engines.base import Engine, InstanceSpec
from homeport.objects import archives as artifacts
from homeport.objects.locations import UnreachableObject
from homeport.services.context import Context
from homeport.settings import Settings

PING_TIMEOUT_S = 2.0  # SageMaker's /ping timeout
OPT_ML_MODEL = "/opt/ml/model"  # where a SageMaker container finds its model; here, the instance's model directory
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


async def provision(
    ctx: Context, engine: Engine, inst: Instance, container: dict[str, Any], runtime: str, extra: dict[str, str]
) -> None:
    """Fetch the model and start the instance; on failure `inst` is EXITED with a reason, nothing raised.

    `extra` is environment set by homeport (batch variables, say); the container's own Environment wins
    over homeport's defaults but not over `extra`.
    """
    settings = ctx.settings
    multi_model = container.get("Mode") == "MultiModel"
    members = container.get("Pipeline") or [container]  # a multi-container model: all of them in one instance
    defaults = {
        "SAGEMAKER_REGION": settings.region,
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": str(int(settings.model_timeout_s)),
    }
    try:
        model_dirs = await asyncio.gather(  # a multi-model prefix is no archive: its models are fetched per request
            *(_fetch(ctx, None if multi_model else member.get("ModelDataUrl")) for member in members)
        )
        envs = await asyncio.gather(
            *(
                _with_code(ctx, {**defaults, **member.get("Environment", {}), **extra}, path)
                for member, path in zip(members, model_dirs, strict=True)
            )
        )
        envs = list(
            await asyncio.gather(*(_with_packages(ctx, env, path) for env, path in zip(envs, model_dirs, strict=True)))
        )
    except requirements.RequirementsError as exc:
        inst.state = InstanceState.EXITED
        inst.failure = str(exc)
        return
    except (artifacts.ArtifactError, UnreachableObject) as exc:
        inst.state = InstanceState.EXITED
        prefix = "" if isinstance(exc, artifacts.ArtifactError) else "Could not access model data at "
        inst.failure = f"{prefix}{exc}"
        return
    model_dir = model_dirs[0]
    environment = envs[0]
    if multi_model:
        environment["SAGEMAKER_MULTI_MODEL"] = "true"
    if "Pipeline" in container:
        pipeline = {
            "mode": container.get("ExecutionMode", "Serial"),
            "containers": [
                {
                    "hostname": member["Hostname"],
                    "runtime": member["Runtime"],
                    "model_dir": str(path),
                    "environment": env,
                }
                for member, path, env in zip(members, model_dirs, envs, strict=True)
            ],
        }
        # The process's own environment, for code that reads os.environ: every container's, the first one's
        # value where two differ (the toolkit's settings are read per container from the spec).
        shared: dict[str, str] = {}
        for env in reversed(envs):
            shared.update(env)
        environment = {**shared, "HOMEPORT_PIPELINE": json.dumps(pipeline)}
    spec = InstanceSpec(
        inst.id, runtime, model_dir, environment, inst.socket_path, inst.log_path, inst.zone, inst.instance_type
    )
    if inst.state == InstanceState.DRAINING:  # stopped while its model was downloading
        return
    try:
        inst.handle = engine.start(spec)
    except OSError as exc:
        inst.state = InstanceState.EXITED
        inst.failure = f"could not start instance {inst.id}: {exc}"
    else:
        inst.state = InstanceState.STARTING
        app = engine.direct(inst.handle)
        if app is not None:  # served in this process: called directly, not through its socket
            inst.client = DirectClient(app)
        else:
            try:
                inst.reach(await engine.address(inst.handle))
            except OSError as exc:  # never placed: the engine's exit code says it ended
                inst.failure = str(exc)


async def _with_code(ctx: Context, env: dict[str, str], model_dir: Path) -> dict[str, str]:
    """`env` with SAGEMAKER_SUBMIT_DIRECTORY naming where the user's code is on this machine. The SDK gives either
    its uploaded `s3://…/sourcedir.tar.gz` (fetched and unpacked safely, like a model archive, and cached) or, having
    repacked the code into the model archive, `/opt/ml/model/code` (the instance's own model directory)."""
    where = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "").strip()
    if where == OPT_ML_MODEL or where.startswith(OPT_ML_MODEL + "/"):
        inside = PurePosixPath(where[len(OPT_ML_MODEL) :].lstrip("/"))
        if ".." in inside.parts:
            raise artifacts.ArtifactError(f"SAGEMAKER_SUBMIT_DIRECTORY={where} leaves {OPT_ML_MODEL}.")
        local = model_dir.joinpath(*inside.parts)
    elif ("://" in where and not where.startswith("file://")) or where.endswith(ARCHIVE_SUFFIXES):
        try:
            local = await _fetch(ctx, where)
        except UnreachableObject as exc:
            raise artifacts.ArtifactError(
                f"Could not access the code at SAGEMAKER_SUBMIT_DIRECTORY={where}: {exc}"
            ) from exc
    else:
        return env  # a directory on this machine: the model server reads it where it is
    return {**env, "SAGEMAKER_SUBMIT_DIRECTORY": str(local)}


async def _with_packages(ctx: Context, env: dict[str, str], model_dir: Path) -> dict[str, str]:
    """`env` naming where the code's requirements.txt is installed, when it has one (installed now if no model
    asked for the same before)."""
    code = Path(env["SAGEMAKER_SUBMIT_DIRECTORY"]) if env.get("SAGEMAKER_SUBMIT_DIRECTORY") else model_dir / "code"
    wanted = code / "requirements.txt"
    if not wanted.is_file():
        return env
    environment = await asyncio.to_thread(requirements.install, wanted, ctx.settings.cache_dir / "packages")
    return {**env, "HOMEPORT_CODE_PACKAGES": str(requirements.site_packages(environment))}


async def _fetch(ctx: Context, url: str | None) -> Path:
    """The unpacked model at `url` (an empty directory for none)."""
    where = ctx.objects.locate(url) if url else None
    settings = ctx.settings
    return await asyncio.to_thread(
        artifacts.fetch,
        where.url if where else None,
        settings.cache_dir / "models",
        settings.max_model_bytes,
        where.storage_options if where else None,
    )


async def ping(engine: Engine, inst: Instance) -> bool | None:
    """True when /ping answers 200, False when it does not (yet), None when the process has ended."""
    code = engine.exit_code(inst.handle)
    if code is not None:
        inst.state = InstanceState.EXITED
        inst.failure = f"instance {inst.id} exited with code {code}: {log_tail(inst.log_path)}"
        return None
    try:
        reply = await inst.client.request("GET", "/ping", [], b"", PING_TIMEOUT_S)
    except (InstanceUnreachable, InstanceDropped, InstanceTimeout):
        return False
    return reply.status == 200


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


def socket_dir(settings: Settings) -> Path:
    """Where instances' Unix sockets go: the data directory, unless its path is too long for one (~100 bytes)."""
    if len(str(settings.run_dir)) <= 80:
        return settings.run_dir
    digest = hashlib.sha256(str(settings.data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"homeport-{digest}"
