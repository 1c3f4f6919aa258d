"""Who is signed in to the console, and whether a change they send is theirs.

A user signs in with an access key pair the server knows (the pair their SDK signs with); the session is a cookie
signed by Starlette's SessionMiddleware (itsdangerous), HttpOnly, SameSite=Strict, for SESSION_S at most. It holds
the access key id, a CSRF token and the time it ends — never the secret. Every change is a form post that must
carry the session's CSRF token and, when the browser says where it comes from, come from the console's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from homeport.api.auth.keys import KeyRing

SESSION_S = 12 * 3600
COOKIE = "homeport-console"


@dataclass(frozen=True)
class Viewer:
    access_key_id: str
    csrf: str


def signing_secret(keys: KeyRing) -> str:
    """The cookie's signing key: derived from the key pairs, so every front door given the same keys accepts the
    same sessions, and a session ends when its key is removed or rotated."""
    material = "\0".join(f"{key}\0{keys.secret_for(key)}" for key in sorted(keys.access_key_ids))
    return hmac.new(b"homeport-console-session", material.encode(), hashlib.sha256).hexdigest()


def check_pair(keys: KeyRing, access_key_id: str, secret_access_key: str) -> bool:
    known = keys.secret_for(access_key_id)
    # compared whole, in constant time, even when the id is unknown: the answer's timing tells nothing
    return hmac.compare_digest((known or "\0").encode(), secret_access_key.encode()) and known is not None


def sign_in(request: Request, access_key_id: str, now: float) -> None:
    request.session.clear()
    request.session.update({"key": access_key_id, "csrf": secrets.token_urlsafe(32), "until": now + SESSION_S})


def viewer(request: Request, keys: KeyRing, now: float) -> Viewer | None:
    """The signed-in user, or None: no session, an expired one, or one whose key the server no longer has."""
    session: dict[str, Any] = request.session
    key, csrf, until = session.get("key"), session.get("csrf"), session.get("until")
    if not isinstance(key, str) or not isinstance(csrf, str) or not isinstance(until, int | float):
        return None
    if until <= now or key not in keys:
        session.clear()
        return None
    return Viewer(key, csrf)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (Origin, or Sec-Fetch-Site)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def csrf_ok(request: Request, who: Viewer, form: dict[str, str]) -> bool:
    return same_origin(request) and hmac.compare_digest(form.get("csrf", "").encode(), who.csrf.encode())
