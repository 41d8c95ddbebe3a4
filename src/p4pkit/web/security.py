"""The portal's defences: CSRF tokens, a login rate limit and secure response headers.

Sessions themselves are Starlette's `SessionMiddleware`: a cookie signed with itsdangerous, so a
client can read but not forge it; it holds only the user's id and the session's CSRF token.

- CSRF: every state-changing form carries the session's token, checked server-side with a
  constant-time comparison (OWASP CSRF Prevention Cheat Sheet, "synchronizer token pattern"); the
  cookie is also SameSite=strict.
- Login: at most `max_failures` failed logins per username and client address in `window`
  seconds; further attempts are refused with 429 until the oldest failure ages out (OWASP
  Authentication Cheat Sheet, "protect against automated attacks").
- Headers: a Content-Security-Policy that allows scripts only from the portal itself (Vega needs
  'unsafe-eval' to compile chart expressions), no framing, no MIME sniffing, no referrer.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable

from starlette.requests import Request

CSRF_FIELD = "csrf_token"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def csrf_valid(request: Request, submitted: str | None) -> bool:
    """True when the form's token is the session's (compared in constant time)."""
    expected = request.session.get(CSRF_FIELD)
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


class LoginLimiter:
    """Counts failed logins per (username, client address) over a sliding window."""

    def __init__(self, max_failures: int = 5, window: float = 15 * 60, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures[key]
        while failures and self.clock() - failures[0] >= self.window:
            failures.popleft()
        return failures

    def blocked(self, username: str, address: str) -> bool:
        return len(self._recent((username.lower(), address))) >= self.max_failures

    def failed(self, username: str, address: str) -> None:
        self._recent((username.lower(), address)).append(self.clock())

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username.lower(), address), None)
