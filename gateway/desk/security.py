"""Who may use the desk, and proof that a write came from the desk's own form.

The desk is for the person at this machine. Three checks, in order, on every desk request:
  * Host: the page answers only to the names the gateway is bound as (127.0.0.1, localhost),
    so a web page that rebinds its own domain to 127.0.0.1 can't read or drive it;
  * the key: with GATEWAY_API_KEY set, a browser signs in once (the login form) and keeps a
    session cookie; `Authorization: Bearer <key>` works too, for scripts;
  * every write is a POST carrying a CSRF token equal to the desk's cookie (double submit);
    the cookie is SameSite=Strict, so another site's form never carries it.
The gateway's API-key middleware lets /desk through (gateway/auth.py) and the desk answers for
itself, because a browser needs a login page and a redirect where the API answers 401 JSON.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

SESSION_COOKIE = "loregate_desk"
CSRF_COOKIE = "loregate_csrf"
CSRF_FIELD = "csrf"
MAX_SESSIONS = 64  # sign-ins kept; the oldest is signed out first
LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
ANY_INTERFACE = frozenset({"0.0.0.0", "::", ""})


class DeskDenied(Exception):
    """Raised by a desk check; its response (a redirect, a 403 page) is what goes back."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class DeskGuard:
    def __init__(self, api_key: str | None, host: str) -> None:
        self.api_key = api_key
        self.host = host
        self._sessions: OrderedDict[str, None] = OrderedDict()

    # -- the three checks ---------------------------------------------------------------
    def host_allowed(self, request: Request) -> bool:
        if self.host in ANY_INTERFACE:  # bound to every interface: any name reaches it
            return True
        name = (urlsplit("//" + request.headers.get("host", "")).hostname or "").lower()
        return name in LOCAL_NAMES or name == self.host.lower()

    def signed_in(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
            return True
        return request.cookies.get(SESSION_COOKIE, "") in self._sessions

    def check_host(self, request: Request) -> None:
        if not self.host_allowed(request):
            raise DeskDenied(Response(f"This desk answers only at {self.host}.", 403,
                                      media_type="text/plain"))

    def check(self, request: Request) -> None:
        """Raise DeskDenied unless this request may see the desk."""
        self.check_host(request)
        if not self.signed_in(request):
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                raise DeskDenied(RedirectResponse(f"/desk/login?next={quote(target)}", 303))
            raise DeskDenied(Response("Sign in to the desk first (GATEWAY_API_KEY).", 401,
                                      media_type="text/plain"))

    def check_csrf(self, request: Request, form_token: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not form_token or not hmac.compare_digest(cookie, form_token):
            raise DeskDenied(Response("The form's CSRF token is missing or stale: reload the "
                                      "page and try again.", 403, media_type="text/plain"))

    # -- sessions and tokens --------------------------------------------------------------
    def key_matches(self, given: str) -> bool:
        return self.api_key is not None and hmac.compare_digest(given.encode(),
                                                                self.api_key.encode())

    def new_session(self) -> str:
        token = secrets.token_urlsafe(32)
        self._sessions[token] = None
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return token

    def end_session(self, token: str) -> None:
        self._sessions.pop(token, None)


def csrf_token(request: Request) -> tuple[str, bool]:
    """(the request's CSRF token, whether it is new and must be set as the cookie)."""
    existing = request.cookies.get(CSRF_COOKIE)
    return (existing, False) if existing else (secrets.token_urlsafe(32), True)


def set_cookie(response: Response, name: str, value: str) -> None:
    # Path=/desk: the API never sees them; HttpOnly: page scripts never read them
    response.set_cookie(name, value, path="/desk", httponly=True, samesite="strict")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a desk page only, never another site."""
    if target and target.startswith("/desk") and "//" not in target and "\\" not in target:
        return target
    return "/desk"
