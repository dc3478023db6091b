"""JWTs for the tests: a game backend's keys and tokens, and a JWKS endpoint that counts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from helpers.clients import EventClient, Refused

SECRET = secrets.token_hex(32)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key: Any) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_public_pem(private_key: Any, path: Path) -> str:
    path.write_bytes(public_pem(private_key))
    return str(path)


def new_id() -> int:
    """A user id of the backend's range (from 1,000,000,000 up), unique enough per test."""
    return random.randrange(1_000_000_000, 2_000_000_000)


def claims(sub: Any, name: Optional[str] = None, ttl: int = 300, **extra: Any) -> dict:
    payload = {"sub": sub, "exp": int(time.time()) + ttl, **extra}
    if name is not None:
        payload["name"] = name
    return payload


def mint(key: Any, algorithm: str, sub: Any, *, kid: Optional[str] = None, **kwargs: Any) -> str:
    """A token the way a game backend issues one with PyJWT."""
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(sub, **kwargs), key, algorithm=algorithm, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def by_hand(header: dict, payload: dict, secret: Optional[bytes] = None) -> str:
    """A compact JWS that PyJWT would refuse to make: HMAC with ``secret``, else unsigned."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = b""
    if secret is not None:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def jwk_of(private_key: Any, kid: str) -> dict:
    """The public JWK a backend publishes for ``private_key``."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk, alg = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True), "RS256"
    else:
        jwk, alg = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True), "ES256"
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def refusal(server: Any, namespace: str, transport: str, token: Any) -> Any:
    """The message of the connect_error a connection with ``token`` gets."""
    client = EventClient(server.url, namespace, transport)
    try:
        with pytest.raises(Refused) as refused:
            client.connect(auth={"token": token})
    finally:
        client.close()
    return refused.value.message


class JwksServer:
    """A game backend's JWKS endpoint on a free port; counts the requests it answers."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.requests = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    outer.requests += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> JwksServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
