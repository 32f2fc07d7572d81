"""Console sign-in under ``--credentials``: an access key opens a session cookie; CSRF tokens guard writes.

The session cookie is ``{key id}.{region}.{expiry}.{nonce}.{mac}``, the MAC an HMAC-SHA256 under a key
derived from that access key's secret, so it is stateless (any replica, any restart verifies it) and
removing the key from the credentials file ends its sessions. The cookie is ``HttpOnly`` and
``SameSite=Strict``. The CSRF token is another HMAC of the session's nonce, sent in a second (readable)
``SameSite=Strict`` cookie that the console's scripts copy into an ``X-CSRF-Token`` header on every
state-changing request; the guard refuses such a request without it.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pertinent.api.sigv4 import REGION
from pertinent.caller import Caller
from pertinent.credentials import AccessKey, KeyRing

SESSION_COOKIE = "pertinent_session"
CSRF_COOKIE = "pertinent_csrf"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    caller: Caller
    nonce: str
    key: AccessKey


def _mac_key(key: AccessKey) -> bytes:
    return hmac.new(key.secret_access_key.encode(), b"pertinent-console-session", hashlib.sha256).digest()


def _mac(key: AccessKey, message: str) -> str:
    return hmac.new(_mac_key(key), message.encode(), hashlib.sha256).hexdigest()


class SessionKeys:
    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def issue(self, key: AccessKey, region: str, now: float | None = None) -> tuple[str, str]:
        """A new session cookie value and its CSRF token."""
        expiry = int((now or time.time()) + SESSION_SECONDS)
        nonce = secrets.token_hex(16)
        payload = f"{key.access_key_id}.{region}.{expiry}.{nonce}"
        return f"{payload}.{_mac(key, payload)}", self.csrf_token(key, nonce)

    @staticmethod
    def csrf_token(key: AccessKey, nonce: str) -> str:
        return _mac(key, f"csrf.{nonce}")

    def session_from_cookies(self, cookie_header: str, now: float | None = None) -> Session | None:
        try:
            cookies = SimpleCookie(cookie_header)
        except CookieError:
            return None
        morsel = cookies.get(SESSION_COOKIE)
        if morsel is None:
            return None
        parts = morsel.value.split(".")
        if len(parts) != 5:
            return None
        key_id, region, expiry, nonce, mac = parts
        key = self.keys.get(key_id)
        if key is None or not expiry.isdigit() or not REGION.match(region):
            return None
        if not hmac.compare_digest(_mac(key, f"{key_id}.{region}.{expiry}.{nonce}"), mac):
            return None
        if int(expiry) < (now or time.time()):
            return None
        return Session(Caller(key.account_id, region, key_id), nonce, key)

    def csrf_ok(self, session: Session, token: str) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session.key, session.nonce), token)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · pertinent console</title>
<link rel="stylesheet" href="/console/static/console.css"><link rel="icon" href="data:,"></head>
<body><main><h1>Sign in</h1>
<p>This server requires an access key (see <code>pertinent keys create</code>).</p>
{notice}
<form method="post" action="/console/sign-in" class="form-grid" autocomplete="off">
<label>Access key ID <input name="access_key_id" required autofocus></label>
<label>Secret access key <input name="secret_access_key" type="password" required></label>
<label>Region <input name="region" value="{region}" required></label>
<button type="submit">Sign in</button>
</form></main></body></html>"""


def _page(region: str, notice: str = "", status: int = 200) -> HTMLResponse:
    block = f'<p class="notice error" role="alert">{html.escape(notice)}</p>' if notice else ""
    return HTMLResponse(_PAGE.format(notice=block, region=html.escape(region)), status_code=status)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def sign_in_routes(keys: KeyRing | None, default_region: str) -> list[Route]:
    """``GET|POST /console/sign-in`` and ``POST /console/sign-out``; without credentials they only
    redirect to the console."""
    sessions = SessionKeys(keys) if keys is not None else None

    async def sign_in(request: Request) -> Response:
        if sessions is None or keys is None:
            return RedirectResponse("/console", status_code=303)
        if request.method == "GET":
            return _page(default_region)
        if not _same_origin(request):
            return _page(default_region, "Sign-in must come from this console's own page.", 403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        key_id = (form.get("access_key_id") or [""])[0].strip()
        secret = (form.get("secret_access_key") or [""])[0].strip()
        region = (form.get("region") or [default_region])[0].strip() or default_region
        key = keys.get(key_id)
        if key is None or not hmac.compare_digest(key.secret_access_key.encode(), secret.encode()):
            return _page(
                region if REGION.match(region) else default_region, "Unknown key or wrong secret.", 403
            )
        if not REGION.match(region):
            return _page(default_region, "That is not a region name (like us-east-1).", 400)
        cookie, csrf = sessions.issue(key, region)
        response = RedirectResponse("/console", status_code=303)
        secure = request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True, samesite="strict", secure=secure
        )
        response.set_cookie(CSRF_COOKIE, csrf, max_age=SESSION_SECONDS, samesite="strict", secure=secure)
        return response

    async def sign_out(request: Request) -> Response:
        response = RedirectResponse("/console/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        response.delete_cookie(CSRF_COOKIE, samesite="strict")
        return response

    return [
        Route("/console/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/console/sign-out", sign_out, methods=["POST"]),
    ]
