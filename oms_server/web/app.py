"""The operator page's HTTP side (Starlette): the page, its session, its feed, the halts.

The browser sends the same bearer token as gRPC once (``POST /api/session``); it is
verified like every RPC's (oms_server.api.auth) and kept in an HttpOnly, SameSite=Strict
cookie, which the event stream (EventSource sends no headers) and the controls then
carry. ``Authorization: Bearer`` works as well, for scripts. A missing, bad or expired
token gets 401 with the reason and nothing else.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from weakref import WeakSet

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from oms_server.api.auth import verify_token
from oms_server.domain.access import Principal
from oms_server.domain.errors import OmsError, UnauthenticatedError
from oms_server.web.feed import FeedSources, OperatorFeed, parse_cursor

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "oms_session"
#: Seconds between keep-alive comments on an idle event stream.
PING_S = 15
#: Longest reason a halt from the page records.
MAX_REASON = 200


class OperatorSite:
    """The routes of the page over the OMS's engine, journal, hub and venues."""

    def __init__(self, sources: FeedSources, auth_secret: str) -> None:
        self._sources = sources
        self._secret = auth_secret
        self._feeds: WeakSet[OperatorFeed] = WeakSet()
        self.app = Starlette(
            routes=[
                Route("/", self._index, methods=["GET"]),
                Route("/api/session", self._login, methods=["POST"]),
                Route("/api/session", self._session, methods=["GET"]),
                Route("/api/session", self._logout, methods=["DELETE"]),
                Route("/api/events", self._events, methods=["GET"]),
                Route("/api/halt", self._halt, methods=["POST"]),
                Route("/api/resume", self._resume, methods=["POST"]),
                Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            ]
        )

    @property
    def live_feeds(self) -> int:
        return len(self._feeds)

    def drop_feeds(self) -> int:
        """End every open event stream (each browser reconnects and resumes); how many."""
        feeds = list(self._feeds)
        for feed in feeds:
            feed.close()
        return len(feeds)

    # -- the page and its session ---------------------------------------------------------

    async def _index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def _login(self, request: Request) -> Response:
        if not _is_json(request):
            return JSONResponse({"error": "send application/json"}, status_code=415)
        token = ""
        try:
            body = await request.json()
            if isinstance(body, dict) and isinstance(body.get("token"), str):
                token = body["token"].strip()
        except ValueError:
            pass
        if not token:
            return _unauthenticated('send {"token": "<bearer token>"} (see `oms token`)')
        try:
            principal, expires = verify_token(self._secret, token)
        except UnauthenticatedError as exc:
            return _unauthenticated(exc.message)
        response = JSONResponse(self._whoami(principal, expires))
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=max(0, int(expires - time.time())),
            httponly=True,
            samesite="strict",
            path="/",
        )
        log.info("operator page: %s signed in (%s)", principal.subject, principal.role.value)
        return response

    async def _session(self, request: Request) -> Response:
        try:
            principal, expires = self._caller(request)
        except UnauthenticatedError as exc:
            return _unauthenticated(exc.message)
        return JSONResponse(self._whoami(principal, expires))

    async def _logout(self, request: Request) -> Response:
        response = JSONResponse({})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _whoami(self, principal: Principal, expires: float) -> dict[str, object]:
        probe = OperatorFeed(self._sources, principal, None)
        return {
            "subject": principal.subject,
            "role": principal.role.value,
            "admin": principal.is_admin,
            "accounts": probe.accounts(),
            "expires": int(expires),
        }

    def _caller(self, request: Request) -> tuple[Principal, float]:
        """The verified principal of a request's bearer header or session cookie."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        else:
            token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            raise UnauthenticatedError("not signed in: enter a token (see `oms token`)")
        return verify_token(self._secret, token)

    # -- the feed ---------------------------------------------------------------------------

    async def _events(self, request: Request) -> Response:
        try:
            principal, expires = self._caller(request)
        except UnauthenticatedError as exc:
            return _unauthenticated(exc.message)
        position = request.headers.get("last-event-id") or request.query_params.get("after")
        try:
            resume_from = None if position is None else parse_cursor(position)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        feed = OperatorFeed(self._sources, principal, resume_from, until=expires)
        self._feeds.add(feed)
        return EventSourceResponse(feed.events(), ping=PING_S, headers={"X-Accel-Buffering": "no"})

    # -- the kill switch ----------------------------------------------------------------------

    async def _halt(self, request: Request) -> Response:
        return await self._control(request, halt=True)

    async def _resume(self, request: Request) -> Response:
        return await self._control(request, halt=False)

    async def _control(self, request: Request, *, halt: bool) -> Response:
        """Halt or resume one account (``account_id``) or every account (none given)."""
        try:
            principal, _ = self._caller(request)
        except UnauthenticatedError as exc:
            return _unauthenticated(exc.message)
        if not principal.is_admin:
            return JSONResponse({"error": "halts need the admin role"}, status_code=403)
        if not _is_json(request):
            return JSONResponse({"error": "send application/json"}, status_code=415)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        account_id = str(body.get("account_id") or "") or None
        reason = str(body.get("reason") or "")[:MAX_REASON] or f"halted by {principal.subject}"
        engine = self._sources.engine
        if account_id is not None and engine.find_account(account_id) is None:
            return JSONResponse({"error": f"account {account_id} not found"}, status_code=404)
        try:
            if halt:
                canceled = await engine.halt(account_id, principal, f"{reason} (operator page)")
                return JSONResponse({"halted": account_id or "all", "orders_canceled": canceled})
            await engine.resume(account_id, principal)
            return JSONResponse({"resumed": account_id or "all"})
        except OmsError as exc:
            return JSONResponse({"error": exc.message}, status_code=409)


def _is_json(request: Request) -> bool:
    """True for a JSON body: what a cross-site form cannot send without a CORS preflight,
    which this server never grants (with the SameSite cookie, the page's CSRF guard)."""
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


def _unauthenticated(message: str) -> Response:
    return Response(
        json.dumps({"error": message}),
        status_code=401,
        media_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="oms"'},
    )
