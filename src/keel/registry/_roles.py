"""Who may approve and promote: the registry's names for governance's one role check.

There is one authorization system, :mod:`keel.governance`; the registry only ever calls
:func:`require_role`, which is governance's. Embedded mode runs as the local user, an
administrator, and ``admin`` holds every role; the server checks the requesting principal's
role in the model's project with the same function.
"""

from __future__ import annotations

from keel.governance import ADMIN, has_role, require_role, set_role_checker

__all__ = ["ADMIN", "has_role", "require_role", "set_role_checker"]
