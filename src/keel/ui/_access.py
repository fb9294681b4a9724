"""Who is looking at a page, what they may do, and the CSRF token of the UI's forms.

The UI asks one question before it shows a page or a button: ``can(action, kind, id)``,
answered by :func:`keel.governance.can` for the principal of the request in the project of
the object. Who the principal is comes from a hook: ``keel ui`` serves the local user as an
administrator; a server passes its own (a session cookie, a token).

Forms that change something (approving a model version) carry a token bound to the principal
and signed with a per-app secret, checked on POST together with the ``Origin`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from keel.governance import Governance, Principal, Resource, can, local_principal

__all__ = ["Access", "PrincipalHook", "embedded_principal"]

#: Returns the principal of a request (raise to refuse one that is not signed in).
PrincipalHook = Callable[[Request], Principal]


def embedded_principal(name: str = "local") -> PrincipalHook:
    """The hook of ``keel ui``: every request is the local user, a server administrator."""
    principal = local_principal(name)

    def hook(request: Request) -> Principal:
        return principal

    return hook


@dataclass
class Access:
    """The UI's authorization: the principal hook, project lookup and CSRF secret.

    Args:
        hook: Returns the principal of a request.
        gov: Where objects' projects are looked up.
        secret: The CSRF signing key (random per app by default).
    """

    hook: PrincipalHook
    gov: Governance
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def principal(self, request: Request) -> Principal:
        """The principal of ``request`` (cached on the request)."""
        cached = getattr(request.state, "keel_principal", None)
        if isinstance(cached, Principal):
            return cached
        principal = self.hook(request)
        request.state.keel_principal = principal
        return principal

    def project_of(self, kind: str, ident: str) -> str | None:
        """The project of an experiment (by id) or model (by name); ``None`` for other kinds."""
        if kind in ("experiment", "model"):
            return self.gov.project_of(kind, ident)
        return None

    def can(self, request: Request, action: str, kind: str = "", ident: str = "") -> bool:
        """Whether the request's principal may take ``action`` on the object ``kind:ident``."""
        principal = self.principal(request)
        if principal.is_admin:
            return True
        project = self.project_of(kind, ident) if kind else None
        if project is None:
            # Objects outside projects (datasets, lineage, the audit log): any role anywhere
            # lets a user read; writing needs the role in some project.
            return any(can(principal, action, Resource(p)) for p in principal.roles)
        return can(principal, action, Resource(project, kind, ident))

    def csrf_token(self, request: Request) -> str:
        """The form token of the request's principal."""
        name = self.principal(request).name.encode()
        return hmac.new(self.secret, b"keel-ui-csrf:" + name, hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request, token: str | None) -> bool:
        """Whether a POSTed form token (and the ``Origin`` header, if sent) are this app's."""
        origin = request.headers.get("origin")
        if origin and origin != "null":
            host = request.headers.get("host", "")
            if origin.split("://", 1)[-1] != host:
                return False
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(request))
