"""The console's Starlette application, served at /console on the API's own port: pages rendered on the server
from the same operations the API runs (no HTTP round trip to itself), htmx for the parts that refresh."""

from __future__ import annotations

import math
import urllib.parse
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeport.console import alarms, endpoints, jobs, monitoring, registry, scaling
from homeport.console.context import Console
from homeport.console.pages import form_of, local_path, render, when
from homeport.console.session import COOKIE, SESSION_S, check_pair, sign_in, signing_secret
from homeport.console.throttle import SignInThrottle

HERE = Path(__file__).parent
# Scripts, styles and images from the console alone; no frames; nothing inline but SVG markup.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=HERE / "templates")
    found.env.filters["when"] = when
    found.env.filters["quote"] = lambda text: urllib.parse.quote(str(text), safe="")
    return found


def console_app(console: Console) -> ASGIApp:
    routes: list[BaseRoute] = [
        Route("/console", _home),
        Route("/console/", _home),
        Route("/console/login", _login, methods=["GET", "POST"]),
        Route("/console/logout", _logout, methods=["POST"]),
        *endpoints.routes(),
        *scaling.routes(),
        *jobs.routes(),
        *alarms.routes(),
        *registry.routes(),
        *monitoring.routes(),
        Mount("/console/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=signing_secret(console.keys),
                session_cookie=COOKIE,
                max_age=SESSION_S,
                path="/console",
                same_site="strict",
                https_only=console.https_only,
            )
        ],
        exception_handlers={404: _not_found},
    )
    app.state.console = console
    app.state.throttle = SignInThrottle()
    app.state.templates = templates()
    return _Secured(app)


class _Secured:
    """Every console response carries the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, sending)


def _home(request: Request) -> Response:
    return RedirectResponse("/console/endpoints", status_code=303)


async def _login(request: Request) -> Response:
    console: Console = request.app.state.console
    after = local_path(request.query_params.get("next", "/console/endpoints"))
    if request.method == "GET":
        return render(request, "login.html", after=after, error=None, key="")
    throttle: SignInThrottle = request.app.state.throttle
    client, now = request.client.host if request.client else "", console.clock.now()
    if (wait := throttle.wait(client, now)) > 0:
        seconds = math.ceil(wait)
        message = f"Too many failed sign-ins from this address: try again in {seconds} s."
        reply = render(request, "login.html", 429, after=after, error=message, key="")
        reply.headers["retry-after"] = str(seconds)
        return reply
    form = await form_of(request)
    if form is None:
        return render(request, "login.html", 400, after=after, error="Send the form from this page.", key="")
    key, secret = form.get("access_key_id", "").strip(), form.get("secret_access_key", "")
    if not check_pair(console.keys, key, secret):
        throttle.failed(client, now)
        return render(
            request, "login.html", 401, after=after, key=key,
            error="The access key ID and secret access key are not a pair this server knows.",
        )  # fmt: skip
    throttle.succeeded(client)
    sign_in(request, key, now)
    return RedirectResponse(after, status_code=303)


async def _logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/console/login", status_code=303)


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 404, who=None, title="Not found", message="The console has no such page.")
