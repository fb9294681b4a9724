"""The Python API against a remote ``keel server``: the same calls, pointed at a URL.

Setting ``KEEL_TRACKING_URI=http://host:5000`` and ``KEEL_TOKEN=...`` is all it takes; the
REST-backed stores behind it live in :mod:`keel.store._rest` (layer 1), so tracking and the
registry open them by URI scheme without importing this package. :func:`connect` does the
same from code. The governance reads (lineage, audit log, compliance reports, cost) and
online features have their remote forms here too (``remote_lineage`` and so on).
"""

from __future__ import annotations

from keel.client._governance import (
    remote_audit_log,
    remote_compliance_report,
    remote_cost,
    remote_lineage,
    remote_online_features,
    remote_verify_audit,
)
from keel.config import Settings, override_settings
from keel.errors import InvalidArgumentError, InvalidStateError, KeelError

__all__ = [
    "connect",
    "disconnect",
    "remote_audit_log",
    "remote_compliance_report",
    "remote_cost",
    "remote_lineage",
    "remote_online_features",
    "remote_verify_audit",
]


def connect(url: str, token: str, *, project: str = "default") -> Settings:
    """Send every following ``keel`` call in this process to the server at ``url``.

    Args:
        url: The server, ``http(s)://host:port``.
        token: An API token (``keel tokens create USER`` prints one).
        project: The project new experiments and models are created in.

    Returns:
        The settings now in effect.

    Raises:
        InvalidArgumentError: ``url`` is not an http(s) URL.
    """
    if not url.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            f"A Keel server URL starts with http:// or https://, got {url!r}."
        )
    return _switch(tracking_uri=url.rstrip("/"), token=token, project=project)


def disconnect() -> Settings:
    """Go back to the embedded store of the settings (``KEEL_STORE_URI`` / ``KEEL_HOME``)."""
    return _switch(tracking_uri=None, token=None)


def _switch(**changes: object) -> Settings:
    """Change where the stores are, carrying the current experiment over by name.

    Raises:
        InvalidStateError: A run is active (end it first: its id means nothing elsewhere).
    """
    from keel.tracking import _fluent, reset_client

    if _fluent.active_run() is not None:
        raise InvalidStateError(
            "A run is active; end it before switching between the local store and a server."
        )
    name = _fluent._experiment.get("name")
    _fluent._experiment.clear()  # an experiment id of one store means nothing in the other
    reset_client()
    settings = override_settings(**changes)
    if name is not None:
        try:
            _fluent.set_experiment(name)
        except KeelError:  # e.g. no right to create it there: the default applies until set
            _fluent._experiment.clear()
    return settings
