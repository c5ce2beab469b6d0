"""The sandbox's check of a GitHub App's JWT, written from GitHub's "Generating a JSON Web
Token (JWT) for a GitHub App": RS256 over `header.payload`, `iss` the App's id (or client
id), `iat` no later than now (60 s of drift allowed), `exp` at most 10 minutes after `iat`
and not passed. Apart from connectors/github/client.py, so that signing and checking are
written twice."""

from __future__ import annotations

import base64
import json
from typing import Any

from connectors.github.sandbox.schema import APP_ID, app_private_key

MAX_LIFETIME = 600  # seconds from iat to exp
DRIFT = 60  # seconds an iat may lie in the future


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_problem(token: str, *, now: float) -> str | None:
    """GitHub's 401 message for a JWT it would refuse, or None when it is good."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        header_part, payload_part, signature_part = token.split(".")
        header: Any = json.loads(_decode(header_part))
        claims: Any = json.loads(_decode(payload_part))
        signature = _decode(signature_part)
    except ValueError:
        return "A JSON web token could not be decoded"
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return "A JSON web token could not be decoded"
    if not isinstance(claims, dict) or str(claims.get("iss")) != APP_ID:
        return "Integration not found"
    key = serialization.load_pem_private_key(app_private_key().encode(), password=None)
    try:
        key.public_key().verify(  # type: ignore[union-attr, call-arg]
            signature,
            f"{header_part}.{payload_part}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return "A JSON web token could not be decoded"
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        return "'Issued at' claim ('iat') and 'Expiration time' claim ('exp') are required"
    if issued > now + DRIFT:
        return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
    if expires - issued > MAX_LIFETIME:
        return "'Expiration time' claim ('exp') is too far in the future"
    if expires <= now:
        return (
            "'Expiration time' claim ('exp') must be a numeric value representing the "
            "future time at which the assertion expires"
        )
    return None
