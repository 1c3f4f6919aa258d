"""What every console page shares: rendering, reading a form, and the guard that signs users in first."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from homeport.console.context import Console
from homeport.console.session import Viewer, csrf_ok, viewer
from homeport.errors import HomeportError

MAX_FORM_BYTES = 64 * 1024

Page = Callable[[Request, Console, Viewer], Awaitable[Response]]


async def form_of(request: Request) -> dict[str, str] | None:
    """A url-encoded form's fields (the last of each name), or None when the body is not one or is too large."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return dict(pairs)


def render(request: Request, template: str, code: int = 200, /, **context: Any) -> HTMLResponse:
    """`template` rendered with `context` (any names, `status` and `name` included), answered with `code`."""
    response: HTMLResponse = request.app.state.templates.TemplateResponse(request, template, context, status_code=code)
    return response


def local_path(path: str) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    return path if path.startswith("/console/") and not path.startswith("/console//") else "/console/endpoints"


def signed_in(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in users: others are sent to the login page, and come back after."""

    async def guarded(request: Request) -> Response:
        console: Console = request.app.state.console
        who = viewer(request, console.keys, console.clock.now())
        if who is None:
            if request.headers.get("hx-request"):  # a refreshing part: the whole page goes to the login
                return Response(status_code=401, headers={"hx-redirect": "/console/login"})
            target = urllib.parse.quote(request.url.path, safe="/")
            return RedirectResponse(f"/console/login?next={target}", status_code=303)
        return await page(request, console, who)

    return guarded


async def change_form(request: Request, who: Viewer) -> dict[str, str] | Response:
    """A change's form, or the refusal to show: not a form, or not sent from the console by this session."""
    form = await form_of(request)
    if form is None:
        return failure(request, who, 400, "Not a form", "Send the change from the console's own form.")
    if not csrf_ok(request, who, form):
        return failure(
            request, who, 403, "Refused",
            "This change did not come from a console page of this session (its CSRF token or origin is wrong). "
            "Reload the page and try again.",
        )  # fmt: skip
    return form


def failure(request: Request, who: Viewer | None, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status, who=who, title=title, message=message)


def attempt(
    console: Console, service: str, operation: str, params: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The operation's reply, or its refusal as a SageMaker client would name it ("ValidationException: …")."""
    try:
        return console.operate(service, operation, params), None
    except HomeportError as exc:
        return {}, f"{exc.code}: {exc.message}"


def newest_first(request: Request, page_size: int) -> dict[str, Any]:
    """A SageMaker List call's paging: `page_size` a page, newest first, from the page the link named (`next`)."""
    params: dict[str, Any] = {"MaxResults": page_size, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if token := request.query_params.get("next"):
        params["NextToken"] = token
    return params


def when(value: Any) -> str:
    """A time as the console shows it: UTC, to the second."""
    if value is None or value == "":
        return ""
    return datetime.fromtimestamp(epoch(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def epoch(value: Any) -> float:
    """Seconds since the epoch, from what a reply holds (a number, or a datetime)."""
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"
