"""One ASGI application on one port: the control plane, the runtime API, the S3 face, homeport's health."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeport.api.asgi import Receive, Scope, Send, respond
from homeport.api.runtime import RuntimeApi
from homeport.api.s3 import ExternalS3Notice, S3Api
from homeport.api.sagemaker import SageMakerApi

Lifespan = Callable[[], Awaitable[None]]


class App:
    def __init__(
        self,
        sagemaker: SageMakerApi,
        runtime: RuntimeApi,
        s3: S3Api | ExternalS3Notice,
        startup: Lifespan,
        shutdown: Lifespan,
    ) -> None:
        self.sagemaker = sagemaker
        self.runtime = runtime
        self.s3 = s3
        self.startup = startup
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if method == "POST" and path.startswith("/endpoints/"):
            endpoint, _, action = path[len("/endpoints/") :].partition("/")
            if action == "invocations":
                await self.runtime.invoke(scope, receive, send, endpoint)
                return
        if method == "POST" and path == "/":
            for name, value in scope["headers"]:
                if name == b"x-amz-target":
                    await self.sagemaker(scope, receive, send, value.decode("latin-1"))
                    return
        if method == "GET" and path == "/ping":
            await respond(send, 200, b'{"status":"ok"}', [(b"content-type", b"application/json")])
            return
        await self.s3(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def handlers(services: Any) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The SageMaker operations homeport implements, each bound to its service method."""
    m, c, e, t = services.models, services.endpoint_configs, services.endpoints, services.tags
    return {
        "CreateModel": m.create,
        "DescribeModel": lambda p: m.describe(p["ModelName"]),
        "ListModels": m.list,
        "DeleteModel": lambda p: m.delete(p["ModelName"]),
        "CreateEndpointConfig": c.create,
        "DescribeEndpointConfig": lambda p: c.describe(p["EndpointConfigName"]),
        "ListEndpointConfigs": c.list,
        "DeleteEndpointConfig": lambda p: c.delete(p["EndpointConfigName"]),
        "CreateEndpoint": e.create,
        "DescribeEndpoint": lambda p: e.describe(p["EndpointName"]),
        "ListEndpoints": e.list,
        "DeleteEndpoint": lambda p: e.delete(p["EndpointName"]),
        "UpdateEndpoint": e.update,
        "UpdateEndpointWeightsAndCapacities": e.update_weights_and_capacities,
        "AddTags": lambda p: t.add(p["ResourceArn"], p["Tags"]),
        "ListTags": lambda p: t.list(p["ResourceArn"], p.get("MaxResults", 50), p.get("NextToken")),
        "DeleteTags": lambda p: t.delete(p["ResourceArn"], p["TagKeys"]),
    }
