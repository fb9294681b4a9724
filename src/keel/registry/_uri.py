"""Model names, alias names and model URIs.

URIs: ``models:/name/3``, ``models:/name@alias``, ``models:/name/latest``,
``runs:/RUN_ID/path``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel.errors import InvalidArgumentError

__all__ = ["ModelRef", "parse_model_uri", "validate_alias", "validate_model_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,127}$")
_RESERVED_ALIASES = frozenset({"latest"})


def validate_model_name(name: object) -> str:
    """Return ``name`` if it can name a registered model.

    Raises:
        InvalidArgumentError: It is not 1 to 256 letters, digits, ``_ . -`` starting with a
            letter or digit (``/`` and ``@`` would make ``models:/`` URIs ambiguous).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"Invalid model name {name!r}: use 1 to 256 letters, digits, '_', '.' and '-', "
            "starting with a letter or digit (no '/', '@' or spaces), such as 'churn-model'."
        )
    return name


def validate_alias(alias: object) -> str:
    """Return ``alias`` if it can name an alias.

    Raises:
        InvalidArgumentError: It does not start with a letter, has other characters than
            letters, digits, ``_`` and ``-``, or is the reserved word ``latest``.
    """
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias in _RESERVED_ALIASES:
        raise InvalidArgumentError(
            f"Invalid alias {alias!r}: use 1 to 128 letters, digits, '_' and '-', starting "
            "with a letter, such as 'champion' or 'challenger' ('latest' is reserved)."
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A parsed model URI.

    Attributes:
        scheme: ``"models"`` or ``"runs"``.
        name: The registered model (``models:`` URIs).
        version: The version number, if the URI names one.
        alias: The alias, if the URI names one.
        run_id: The run (``runs:`` URIs).
        path: The artifact path inside the run (``runs:`` URIs).
    """

    scheme: str
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None

    @property
    def is_latest(self) -> bool:
        """Whether the URI names the newest version (``models:/name/latest``)."""
        return self.scheme == "models" and self.version is None and self.alias is None


_HELP = (
    "Use 'models:/NAME/VERSION', 'models:/NAME@ALIAS', 'models:/NAME/latest' or "
    "'runs:/RUN_ID/ARTIFACT_PATH'."
)


def parse_model_uri(uri: object) -> ModelRef:
    """Parse a model URI.

    Examples:
        >>> parse_model_uri("models:/churn@champion").alias
        'champion'
        >>> parse_model_uri("models:/churn/3").version
        3
        >>> parse_model_uri("runs:/0123abcd/model").path
        'model'

    Raises:
        InvalidArgumentError: The URI has another form (the message shows the allowed ones).
    """
    if not isinstance(uri, str):
        raise InvalidArgumentError(f"A model URI must be a string, got {uri!r}. {_HELP}")
    scheme, sep, rest = uri.partition(":/")
    if not sep:
        raise InvalidArgumentError(f"{uri!r} is not a model URI. {_HELP}")
    rest = rest.lstrip("/")
    if scheme == "models":
        if "@" in rest:
            name, _, alias = rest.partition("@")
            return ModelRef("models", name=_checked(uri, name), alias=_checked_alias(uri, alias))
        name, slash, ver = rest.partition("/")
        name = _checked(uri, name)
        if not slash or ver == "latest":
            return ModelRef("models", name=name)
        if not ver.isdigit() or int(ver) < 1:
            raise InvalidArgumentError(
                f"{uri!r} names version {ver!r}; a version is a positive integer or 'latest'. "
                + _HELP
            )
        return ModelRef("models", name=name, version=int(ver))
    if scheme == "runs":
        run_id, slash, path = rest.partition("/")
        if not run_id or not slash or not path.strip("/"):
            raise InvalidArgumentError(f"{uri!r} must name a run and an artifact path. {_HELP}")
        return ModelRef("runs", run_id=run_id, path=path.strip("/"))
    raise InvalidArgumentError(f"{uri!r} has the unknown scheme {scheme!r}. {_HELP}")


def _checked(uri: str, name: str) -> str:
    try:
        return validate_model_name(name)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"{uri!r} names an invalid model: {exc.message} {_HELP}"
        ) from exc


def _checked_alias(uri: str, alias: str) -> str:
    try:
        return validate_alias(alias)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"{uri!r} names an invalid alias: {exc.message} {_HELP}"
        ) from exc
