"""The security page: change the password, see whether 2FA is on (``/account/2fa`` turns it
on and off), and the account's recent log-ins.

============================  =====  ======================================================
path                          verbs  what
============================  =====  ======================================================
/account/security             GET    2FA status, the password form, recent log-ins
/account/security/password    POST   change the password (current one and 2FA code needed);
                                     every other session ends
============================  =====  ======================================================
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bourse.services import users as us
from bourse.services.bundle import Services
from bourse.services.throttle import Throttled
from bourse.web.console import Console, field, missing, redirect, refusal

#: log-ins listed
LOG_INS_SHOWN = 10
#: the password field of the change-password form, as its label says ("Current password")
CURRENT_PASSWORD = "your current password"


class SecurityPages(Console):
    async def security(self, request: Request, **ctx: Any) -> Response:
        session = await self._session(request)
        if session is None:
            return redirect("/login?next=/account/security")
        log_ins = await run_in_threadpool(
            lambda: self.svc.users.log_ins(session.user.id, session.id_hash, limit=LOG_INS_SHOWN)
        )
        return self._page(
            "security.html",
            session,
            int(ctx.pop("status", 200)),
            title="Security",
            here="security",
            log_ins=log_ins,
            done=request.query_params.get("done", "")[:16],
            ended=request.query_params.get("ended", "")[:6],
            **ctx,
        )

    async def change_password(self, request: Request) -> Response:
        session, form = await self._posted(request, "/account/security")
        new = field(form, "new_password", 2048)
        if new != field(form, "new_password2", 2048):
            return await self.security(
                request, status=400, error="The two new passwords differ; type them again."
            )
        totp = session.user.totp_enabled
        current, code = field(form, "password", 1024), field(form, "totp", 16)
        lacking = missing(totp, current, code, CURRENT_PASSWORD)
        if lacking:  # nothing to check, so no attempt is spent
            return await self.security(request, status=400, error=refusal(totp, lacking))
        try:
            ended = await run_in_threadpool(
                lambda: self.svc.users.change_password(
                    session.user.id, current, new, code, keep_session=session.id_hash,
                    ip=self._ip(request),
                )
            )  # fmt: skip
        except Throttled as exc:
            page = await self.security(request, status=429, error=us.throttled_message(exc))
            page.headers["Retry-After"] = str(exc.retry_after)
            return page
        except us.UserError as exc:
            text = refusal(totp) if str(exc) == us.BAD_LOGIN else str(exc)
            return await self.security(request, status=400, error=text)
        return redirect(f"/account/security?done=password&ended={ended}")


def routes(svc: Services, secure: bool) -> list[BaseRoute]:
    """The security page's routes."""
    s = SecurityPages(svc, secure)
    return [
        Route("/account/security", s.signed(s.security), methods=["GET"]),
        Route("/account/security/password", s.signed(s.change_password), methods=["POST"]),
    ]
