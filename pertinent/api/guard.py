"""The request guard: one ASGI middleware in front of every surface (see docs/security.md).

For each HTTP request, before any route runs, in this order:

1. **Host check** — when the server is bound to loopback, the ``Host`` header must name loopback too, so a
   web page that rebinds its DNS name to 127.0.0.1 cannot talk to the server (DNS rebinding).
2. **Body limit** — the body is read up to ``max_body_bytes``; more is 413 in the surface's error format.
3. **Authentication** — with a credentials file, a SigV4 signature (header or presigned query, verified by
   :mod:`pertinent.api.sigv4`) or a console session cookie; without one, the server's single local account.
4. **Content type** — the event endpoints take JSON bodies only (no form or text/plain posts from pages).
5. **JSON safety** — nesting depth, lone surrogates, NaN/Infinity: 400 in the surface's format.

The rest of the request then runs :func:`pertinent.caller.acting_as` the verified caller, which scopes
every store query and ARN to the caller's account. Console responses get CSP and framing headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.responses import RedirectResponse, Response

from pertinent import safe_json
from pertinent.api import sigv4
from pertinent.api.console_session import SessionKeys
from pertinent.api.surfaces import CONSOLE, EVENT_PATHS, REST, SEARCH, error_response, surface_of
from pertinent.caller import Caller, acting_as
from pertinent.config import Settings
from pertinent.credentials import KeyRing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: paths anyone may fetch, signed or not: the health check, the console's sign-in page and its static files
OPEN_PATHS = ("/healthz", "/healthz/live", "/healthz/ready", "/console/sign-in")  # probes carry no keys
OPEN_PREFIXES = ("/console/static/",)
METRICS_PATH = "/metrics"
#: beyond the limit, a body is read and thrown away up to this many bytes so the client sees the 413
DRAIN_LIMIT = 256 * 1024 * 1024
JSON_TYPES = ("application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1")
LOOPBACK_NAMES = ("localhost", "localhost.")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")

CONSOLE_HEADERS = [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
#: with credentials (a console worth attacking) the console's pages may run only its own scripts
CONSOLE_CSP = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
    )
]
COMMON_HEADERS = [(b"x-content-type-options", b"nosniff")]


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(settings: Settings, insecure_no_auth: bool = False) -> str | None:
    """Why ``pertinent serve`` must not start with these settings (None: it may)."""
    if settings.credentials or insecure_no_auth or is_loopback_host(settings.host):
        return None
    return (
        f"refusing to listen on {settings.host} without authentication: anyone who can reach it could read "
        "and delete everything. Give --credentials FILE (create keys with `pertinent keys create --account "
        "ID --credentials FILE`), or bind to 127.0.0.1, or pass --insecure-no-auth if you really mean it."
    )


def _hostname(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


_AUTH_PARAMS = frozenset(
    f"X-Amz-{p}".encode() for p in ("Algorithm", "Credential", "Date", "Expires", "SignedHeaders", "Signature")
)


def _without_auth_params(query: bytes) -> bytes:
    """A presigned URL's query without its signature parameters: routes see only their own."""
    return b"&".join(p for p in query.split(b"&") if p.split(b"=", 1)[0] not in _AUTH_PARAMS)


def _cross_origin_refusal(method: str, headers: list[tuple[str, str]], allowed: set[str]) -> str | None:
    """Why a state-changing request that a browser sent from another origin is refused, or None.

    Browsers send ``Origin`` with every cross-origin POST — also the "simple" ones (a form, a ``text/plain``
    fetch) that need no CORS preflight — so a page the operator visits cannot change a server that has no
    credentials on 127.0.0.1, whatever the endpoint. API clients (boto3, curl) send no Origin. An origin on
    an ``--allowed-host`` name is the console behind a reverse proxy that rewrites ``Host``."""
    if method not in STATE_CHANGING:
        return None
    origin = next((v for k, v in headers if k == "origin"), None)
    if origin is None:
        return None
    host = next((v for k, v in headers if k == "host"), "")
    netloc = origin.split("://", 1)[-1].lower()
    if origin != "null" and (netloc == host.lower() or _hostname(netloc) in allowed):
        return None
    return (
        f"A {method} from the web page at {origin[:100]!r} is refused: this server takes state-changing "
        "requests from API clients and its own console only (cross-site request protection)."
    )


def _not_utf8(scope: Scope) -> str | None:
    """Why the percent-decoded path or query is not UTF-8 (an encoded lone surrogate such as ``%ED%A0%80``
    included), or None; routes would otherwise see U+FFFD in place of the bytes sent."""
    for part, raw in (("path", scope.get("raw_path") or b""), ("query string", scope.get("query_string", b""))):
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"The request {part} is not valid UTF-8 once percent-decoded (byte {exc.start} of it)."
    return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class RequestGuard:
    """The ASGI middleware; ``keys`` is None when the server runs without credentials."""

    def __init__(
        self, app: ASGIApp, settings: Settings, keys: KeyRing | None, metrics_token: str | None = None
    ) -> None:
        self.app = app
        self.settings = settings
        self.keys = keys
        #: with credentials, ``GET /metrics`` also takes ``Authorization: Bearer <this>`` (Prometheus)
        self.metrics_token = metrics_token.encode() if metrics_token else None
        self.sessions = SessionKeys(keys) if keys is not None else None
        self.loopback_bound = is_loopback_host(settings.host)
        self.extra_hosts = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
        self.local_caller = Caller(settings.account_id, settings.region)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        surface = surface_of(path, method)
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        send = self._with_headers(send, surface)

        refusal = self._host_refusal(headers) or _cross_origin_refusal(method, headers, self.extra_hosts)
        if refusal is not None:
            await error_response(surface, "AccessDeniedException", refusal, 403)(scope, receive, send)
            return
        body = await self._read_body(receive, headers)
        if body is None:
            limit = self.settings.max_body_bytes
            message = f"The request body is larger than the {limit}-byte limit of this server."
            await error_response(surface, "RequestEntityTooLargeException", message, 413)(
                scope, receive, send
            )
            return
        response = self._authenticate(scope, method, path, surface, headers, body)
        if isinstance(response, Response):
            await response(scope, receive, send)
            return
        caller = response
        if b"X-Amz-Signature" in scope.get("query_string", b""):
            scope = {**scope, "query_string": _without_auth_params(scope["query_string"])}
        refused = _not_utf8(scope) or self._content_refusal(method, path, headers, body)
        if refused is not None:
            await error_response(surface, "InvalidInputException", refused, 400)(scope, receive, send)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        with acting_as(caller):
            await self.app(scope, replay, send)

    # -- steps --------------------------------------------------------------------------------------
    def _host_refusal(self, headers: list[tuple[str, str]]) -> str | None:
        if not self.loopback_bound:
            return None
        hosts = [value for key, value in headers if key == "host"]
        if len(hosts) > 1:
            return "The request has more than one Host header."
        name = _hostname(hosts[0].strip()) if hosts else ""
        if hosts and not is_loopback_host(name) and name.lower() not in self.extra_hosts:
            return (
                f"Host {hosts[0][:100]!r} is not allowed: this server listens on loopback only and answers "
                "requests for localhost, a loopback address or an --allowed-host name (DNS-rebinding protection)."
            )
        return None

    async def _read_body(self, receive: Receive, headers: list[tuple[str, str]]) -> bytes | None:
        """The whole body, or None when it is over the limit (the rest is drained, not kept)."""
        limit = self.settings.max_body_bytes
        declared = next((v for k, v in headers if k == "content-length"), None)
        over = declared is not None and declared.strip().isdigit() and int(declared) > limit
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > limit:
                over = True
            if over:
                chunks = []
                if size > DRAIN_LIMIT:
                    break
            else:
                chunks.append(chunk)
        return None if over else b"".join(chunks)

    def _authenticate(
        self,
        scope: Scope,
        method: str,
        path: str,
        surface: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Caller | Response:
        if self.keys is None:
            return self.local_caller
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return self.local_caller if path == "/healthz" else Caller("", "")
        if path == METRICS_PATH and self.metrics_token is not None:
            bearer = self._bearer(method, headers)
            if bearer is not None:
                return bearer
        raw_path = scope.get("raw_path") or path.encode()
        query = scope.get("query_string", b"").decode("latin-1")
        has_signature = any(k == "authorization" for k, _ in headers) or "X-Amz-" in query
        if surface == CONSOLE and not has_signature and self.sessions is not None:
            return self._console_session(method, path, headers)
        incoming = sigv4.IncomingRequest(method, raw_path.decode("latin-1"), query, headers, body)
        try:
            services = sigv4.SERVICES if surface == SEARCH else (sigv4.PERSONALIZE,)
            return sigv4.verify(incoming, self.keys, services=services)
        except sigv4.AuthError as exc:
            # OpenSearch (Amazon OpenSearch Service) answers every authentication failure with 403
            return error_response(surface, exc.code, exc.message, 403 if surface == SEARCH else exc.status)

    def _bearer(self, method: str, headers: list[tuple[str, str]]) -> Caller | Response | None:
        """``GET /metrics`` with ``Authorization: Bearer …``: the metrics token, compared in constant time
        (None: no bearer header, so the request must be signed)."""
        assert self.metrics_token is not None
        authorization = next((v for k, v in headers if k == "authorization"), "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        if method == "GET" and hmac.compare_digest(token.strip().encode(), self.metrics_token):
            return Caller("", "", operator=True)  # reads the server's figures only, as an operator's scraper
        message = "The bearer token is not this server's metrics token."
        return error_response(REST, "AccessDeniedException", message, 403)

    def _console_session(self, method: str, path: str, headers: list[tuple[str, str]]) -> Caller | Response:
        assert self.sessions is not None
        cookies = next((v for k, v in headers if k == "cookie"), "")
        session = self.sessions.session_from_cookies(cookies)
        if session is None:
            if method == "GET" and not path.startswith("/console/api/"):
                return RedirectResponse("/console/sign-in", status_code=303)
            return error_response(
                CONSOLE, "MissingAuthenticationTokenException", "Sign in to the console first.", 403
            )
        if method in STATE_CHANGING:
            token = next((v for k, v in headers if k == "x-csrf-token"), "")
            if not self.sessions.csrf_ok(session, token):
                return error_response(
                    CONSOLE,
                    "InvalidSignatureException",
                    "The request has no valid CSRF token (X-CSRF-Token header); reload the page.",
                    403,
                )
        return session.caller

    def _content_refusal(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> str | None:
        content_type = next((v for k, v in headers if k == "content-type"), None)
        media = _media_type(content_type)
        if method == "POST" and path in EVENT_PATHS and not (media in JSON_TYPES or media.endswith("+json")):
            shown = (content_type or "none")[:80]
            return f"The events endpoints accept JSON bodies only (Content-Type application/json), not {shown!r}."
        if body and json.detect_encoding(body) != "utf-8":
            # json.loads would read UTF-16/32 or a byte-order mark, past the checks below (which read UTF-8)
            return "The request body is not UTF-8 (JSON must be UTF-8, without a byte-order mark)."
        stripped = body.lstrip()[:1]
        if stripped in (b"{", b"[", b'"') or (stripped and media in JSON_TYPES):
            problem = safe_json.problem(body, self.settings.max_json_depth)
            if problem is not None:
                return f"The request body is not acceptable JSON: {problem}."
        return None

    def _with_headers(self, send: Send, surface: str) -> Send:
        extra = COMMON_HEADERS
        if surface == CONSOLE:
            extra = extra + CONSOLE_HEADERS + (CONSOLE_CSP if self.keys is not None else [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in extra if name not in present
                ]
            await send(message)

        return send_with_headers


__all__ = ["SEARCH", "RequestGuard", "bind_refusal", "is_loopback_host"]
