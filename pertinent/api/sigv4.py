"""Verify an AWS Signature Version 4 with botocore's own signer (header or presigned-query form).

The canonical request, string to sign and signature are computed by :class:`botocore.auth.SigV4Auth` — the
code boto3 signs with — over an :class:`botocore.awsrequest.AWSRequest` rebuilt from exactly what arrived
(method, raw path, query, the signed headers, the body). The only thing done here is the comparison
(:func:`hmac.compare_digest`) and the checks AWS makes around it (key known, scope well formed, date
within 15 minutes, presigned URL not expired), each answered with the error code AWS uses:

==========================================  ==========================================================
``MissingAuthenticationTokenException``     no Authorization header and no ``X-Amz-Signature`` query
``IncompleteSignatureException``            a malformed Authorization header, credential scope or date
``UnrecognizedClientException``             an access key that is not in the credentials file
``InvalidSignatureException``               a wrong signature, a wrong scope, or a date off by > 15 min
==========================================  ==========================================================
(https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_to_bytes

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from pertinent.caller import Caller
from pertinent.credentials import KeyRing

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = dt.timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # seven days, as AWS allows
#: signing names we accept: Personalize's (all three services) and OpenSearch's, for the search API
PERSONALIZE = "personalize"
SERVICES = (PERSONALIZE, "es", "aoss")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
HEX_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class AuthError(Exception):
    """A request that is not signed by a listed key, with AWS's code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def missing(message: str = "Missing Authentication Token") -> AuthError:
    return AuthError("MissingAuthenticationTokenException", message, 403)


def incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", message, 400)


def invalid(message: str) -> AuthError:
    return AuthError("InvalidSignatureException", message, 400)


UNRECOGNIZED = AuthError(
    "UnrecognizedClientException", "The security token included in the request is invalid.", 400
)
MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class IncomingRequest:
    """What arrived, as sent: ``raw_path`` still percent-encoded, ``query`` the raw query string."""

    method: str
    raw_path: str
    query: str
    headers: Sequence[tuple[str, str]]  # lower-case names, in arrival order
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class _Signature:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    expires: int | None  # presigned only


def _canonical_query(query: str, drop: str | None = None, plus_as_sent: bool = False) -> str:
    """SigV4's canonical query string of ``query`` as it arrived (latin-1 text of the raw bytes): each name
    and value percent-decoded to bytes and encoded again the one way SigV4 allows, then sorted; ``drop``
    names a parameter left out (a presigned URL's own signature). Working on bytes keeps escapes that are
    not UTF-8 (``%E9``, ``%ED%A0%80``) as they were signed, instead of turning them into U+FFFD.

    ``plus_as_sent``: a raw ``+`` (a space in form encoding) stays ``+`` instead of becoming ``%2B`` — how
    clients that sign the URL they send with spaces as ``+`` (opensearch-py's query parameters) sign it;
    ``%2B`` stays distinct, so the signature still binds every byte."""

    def encode(raw: bytes) -> str:
        parts = raw.split(b"+") if plus_as_sent else [raw]
        return "+".join(quote(unquote_to_bytes(part), safe="-_.~") for part in parts)

    pairs = []
    for part in query.encode("latin-1").split(b"&"):
        if part:
            key, _, value = part.partition(b"=")
            if drop is not None and unquote_to_bytes(key) == drop.encode():
                continue
            pairs.append((encode(key), encode(value)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential[:200]}'"
        )
    return parts[0], parts[1], parts[2], parts[3]


def _from_header(value: str, request: IncomingRequest) -> _Signature:
    rest = value[len(ALGORITHM) :].strip()
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise incomplete(f"Authorization header is malformed: '{item.strip()[:100]}' is not key=value")
        fields[key] = val
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise incomplete(f"Authorization header requires '{required}' parameter.")
    amz_date = request.header("x-amz-date")
    if not amz_date:
        raise incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
    key_id, date, region, service = _parse_credential(fields["Credential"])
    return _Signature(
        key_id, date, region, service, fields["SignedHeaders"].split(";"), fields["Signature"], amz_date, None
    )


def _from_query(pairs: list[tuple[str, str]]) -> _Signature:
    params = dict(pairs)
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise incomplete(f"X-Amz-Algorithm must be {ALGORITHM}.")
    for required in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if not params.get(required):
            raise incomplete(f"AWS query-string parameters must include '{required}'.")
    try:
        expires = int(params.get("X-Amz-Expires", "900"))
    except ValueError:
        raise incomplete("X-Amz-Expires must be an integer number of seconds.") from None
    if not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise incomplete(f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_EXPIRES} seconds.")
    key_id, date, region, service = _parse_credential(params["X-Amz-Credential"])
    return _Signature(
        key_id,
        date,
        region,
        service,
        params["X-Amz-SignedHeaders"].split(";"),
        params["X-Amz-Signature"],
        params["X-Amz-Date"],
        expires,
    )


def _check_time(sig: _Signature, now: dt.datetime) -> None:
    try:
        when = dt.datetime.strptime(sig.amz_date, AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise incomplete(f"Date must be in ISO-8601 'basic format'. Got '{sig.amz_date[:40]}'.") from None
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if when - now > MAX_SKEW:
        limit = (now + MAX_SKEW).strftime(AMZ_DATE_FORMAT)
        raise invalid(
            f"Signature not yet current: {sig.amz_date} is still later than {limit} ({stamp} + 15 min.)"
        )
    if sig.expires is None:
        if now - when > MAX_SKEW:
            limit = (now - MAX_SKEW).strftime(AMZ_DATE_FORMAT)
            raise invalid(
                f"Signature expired: {sig.amz_date} is now earlier than {limit} ({stamp} - 15 min.)"
            )
    elif now > when + dt.timedelta(seconds=sig.expires):
        limit = (when + dt.timedelta(seconds=sig.expires)).strftime(AMZ_DATE_FORMAT)
        raise invalid(
            f"Signature expired: {stamp} is now later than {limit} ({sig.amz_date} + {sig.expires} s.)"
        )


def verify(
    request: IncomingRequest,
    keys: KeyRing,
    now: dt.datetime | None = None,
    services: tuple[str, ...] = SERVICES,
) -> Caller:
    """The caller ``request`` is signed by, or AuthError with the code AWS would answer; ``services``: the
    signing names this surface answers to (Personalize's own, or OpenSearch's too on the search API)."""
    now = now or dt.datetime.now(dt.UTC)
    authorization = request.header("authorization")
    pairs = _query_pairs(request.query)
    if authorization is not None:
        if not authorization.startswith(ALGORITHM + " "):
            raise incomplete(f"Authorization header must use the {ALGORITHM} signing algorithm.")
        sig = _from_header(authorization, request)
        dropped = None
    elif any(k == "X-Amz-Signature" for k, _ in pairs) or any(k == "X-Amz-Algorithm" for k, _ in pairs):
        sig = _from_query(pairs)
        dropped = "X-Amz-Signature"
    else:
        raise missing()
    if request.header("x-amz-security-token") is not None or any(
        k == "X-Amz-Security-Token" for k, _ in pairs
    ):
        raise UNRECOGNIZED  # temporary (STS) credentials are never issued by this server
    key = keys.get(sig.access_key_id)
    if key is None:
        raise UNRECOGNIZED
    if sig.date != sig.amz_date[:8]:
        raise invalid(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{sig.date[:20]}' != '{sig.amz_date[:8]}', from '{sig.amz_date[:40]}'."
        )
    if not REGION.match(sig.region):
        raise invalid(f"Credential should be scoped to a valid region, not '{sig.region[:40]}'.")
    if sig.service not in services:
        raise invalid(
            f"Credential should be scoped to correct service: '{services[0]}', not '{sig.service[:40]}'."
        )
    if "host" not in sig.signed_headers:
        raise invalid("The host header must be signed.")
    if not HEX_SIGNATURE.match(sig.signature):
        raise invalid(MISMATCH_MESSAGE)
    canonical_query = _canonical_query(request.query, dropped)
    expected = _compute(request, sig, canonical_query, key.access_key_id, key.secret_access_key)
    if not hmac.compare_digest(expected, sig.signature):
        as_sent = _canonical_query(request.query, dropped, plus_as_sent=True) if "+" in request.query else None
        if as_sent is None or as_sent == canonical_query or not hmac.compare_digest(
            _compute(request, sig, as_sent, key.access_key_id, key.secret_access_key), sig.signature
        ):
            raise invalid(MISMATCH_MESSAGE)
    _check_time(sig, now)
    return Caller(key.account_id, sig.region, key.access_key_id)


def _compute(
    request: IncomingRequest,
    sig: _Signature,
    canonical_query: str,
    access_key_id: str,
    secret: str,
) -> str:
    headers = HTTPHeaders()
    for name in sig.signed_headers:
        values = [value for key, value in request.headers if key == name]
        if not values:
            raise invalid(f"The signed header '{name[:60]}' is not in the request.")
        for value in values:
            headers[name] = value
    content_sha = request.header("x-amz-content-sha256")
    if content_sha is not None and "x-amz-content-sha256" in sig.signed_headers:
        if content_sha.lower() != hashlib.sha256(request.body).hexdigest():
            raise invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")
    host = request.header("host") or "localhost"
    # the query goes in the URL already canonical: botocore then sorts it as it is (no params to re-encode)
    query = f"?{canonical_query}" if canonical_query else ""
    aws_request = AWSRequest(method=request.method, url=f"http://{host}{request.raw_path}{query}", data=request.body)
    aws_request.headers = headers
    aws_request.context["timestamp"] = sig.amz_date
    signer = SigV4Auth(Credentials(access_key_id, secret), sig.service, sig.region)
    canonical = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))
