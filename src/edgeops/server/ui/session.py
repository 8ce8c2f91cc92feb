"""Studio sign-in: a signed session cookie (HMAC-SHA256 with a secret kept in the workspace
home) and the CSRF token that every form posts back."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "edgeops_session"
LIFETIME_S = 12 * 3600
SECRET_FILE = "studio-secret"


def load_secret(home: Path) -> bytes:
    """The workspace's studio secret, created on first use. Every server process of the
    workspace reads the same file, so a cookie signed by one worker is good at the others;
    deleting the file signs everybody out."""
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
    secret = path.read_text().strip()
    if len(secret) < 32:  # a racing writer has not finished: it writes once, so wait briefly
        time.sleep(0.05)
        secret = path.read_text().strip()
    return bytes.fromhex(secret)


@dataclass(frozen=True)
class SessionData:
    """What the cookie carries. `password` is a digest of the user's password hash, so that a
    new password ends every session signed before it; `nonce` makes each sign-in's CSRF
    token different."""

    user: str
    password: str
    nonce: str
    expires: int


def password_tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def encode(secret: bytes, user: str, password_hash: str, now: float | None = None) -> str:
    """A fresh cookie value for `user`, valid for LIFETIME_S."""
    data = {
        "u": user,
        "p": password_tag(password_hash),
        "n": secrets.token_hex(16),
        "e": int((now or time.time()) + LIFETIME_S),
    }
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return f"{payload.decode()}.{_sign(secret, payload)}"


def decode(secret: bytes, value: str | None, now: float | None = None) -> SessionData | None:
    """The session in a cookie value, or None if it is missing, forged, garbled or expired."""
    if not value or len(value) > 1024 or not value.isascii() or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    if not hmac.compare_digest(_sign(secret, payload.encode()), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        session = SessionData(str(data["u"]), str(data["p"]), str(data["n"]), int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires <= (now or time.time()):
        return None
    return session


def csrf_token(secret: bytes, session: SessionData) -> str:
    """The token forms of this session carry: bound to the session, so a token read from one
    session is worthless in another."""
    return _sign(secret, f"csrf:{session.user}:{session.nonce}".encode())


def csrf_valid(secret: bytes, session: SessionData, token: str | None) -> bool:
    expected = csrf_token(secret, session).encode()
    return token is not None and hmac.compare_digest(expected, token.encode(errors="replace"))
