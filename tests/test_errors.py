"""The exception hierarchy: stable codes, one HTTP status table, and lossless round trips."""

from __future__ import annotations

import inspect
import pickle
import re

import pytest

import keel.errors as errors_module
from keel.errors import (
    HTTP_STATUS,
    AlreadyExistsError,
    ArtifactPathError,
    InvalidArgumentError,
    KeelError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    StoreUnavailableError,
    error_from_code,
    near_matches,
)

ERRORS = sorted(
    (
        obj
        for obj in vars(errors_module).values()
        if inspect.isclass(obj) and issubclass(obj, KeelError)
    ),
    key=lambda cls: cls.__name__,
)


def test_every_error_class_is_exported() -> None:
    assert {cls.__name__ for cls in ERRORS} <= set(errors_module.__all__)


def test_codes_are_unique_and_kebab_case() -> None:
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes)), f"two classes share a code: {sorted(codes)}"
    for cls in ERRORS:
        assert "code" in vars(cls), f"{cls.__name__} inherits its parent's code"
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", cls.code), cls.code


def test_every_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == {cls.code for cls in ERRORS}
    for status in HTTP_STATUS.values():
        assert 400 <= status <= 599


def test_the_module_docstring_draws_the_same_table() -> None:
    doc = errors_module.__doc__ or ""
    for cls in ERRORS:
        line = re.search(rf'code "{re.escape(cls.code)}"\s+HTTP (\d+)', doc)
        assert line, f"the hierarchy in keel/errors.py's docstring lacks {cls.__name__}"
        assert int(line.group(1)) == HTTP_STATUS[cls.code], cls.__name__
        assert cls.__name__ in doc


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_error_from_code_round_trip(cls: type[KeelError]) -> None:
    original = cls("Run 'a1b2' has no metric 'acuracy'.", details={"run_id": "a1b2"})
    body = original.to_dict()
    assert body == {
        "error_code": cls.code,
        "message": "Run 'a1b2' has no metric 'acuracy'.",
        "details": {"run_id": "a1b2"},
    }
    again = error_from_code(body["error_code"], body["message"], body["details"])
    assert type(again) is cls
    assert (again.message, again.details, str(again)) == (
        original.message,
        original.details,
        str(original),
    )


def test_an_unknown_code_becomes_a_keel_error() -> None:
    err = error_from_code("from-a-newer-server", "Something new failed.", None)
    assert type(err) is KeelError
    assert err.message == "Something new failed."
    assert err.details == {}


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_errors_survive_pickling(cls: type[KeelError]) -> None:
    # Process-pool executors send exceptions between processes by pickling them.
    err = cls("boom", details={"k": [1, 2]})
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls
    assert (again.message, again.details) == ("boom", {"k": [1, 2]})


def test_errors_also_inherit_the_nearest_builtin() -> None:
    assert issubclass(NotFoundError, LookupError)
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(ArtifactPathError, InvalidArgumentError)
    assert issubclass(PermissionDeniedError, PermissionError)
    assert issubclass(MissingDependencyError, StoreUnavailableError)
    assert issubclass(MissingDependencyError, ImportError)
    with pytest.raises(LookupError):  # generic handlers still work
        raise NotFoundError("No run 'x'.")


def test_details_default_to_an_empty_dict_per_instance() -> None:
    a, b = AlreadyExistsError("a"), AlreadyExistsError("b")
    a.details["x"] = 1
    assert b.details == {}


def test_missing_dependency_names_the_install_command() -> None:
    err = MissingDependencyError.for_extra("s3fs", "s3", "S3 artifact store")
    assert err.message == (
        "The S3 artifact store needs the package 's3fs', which is not installed. "
        "Install it with: pip install 'keel[s3]'"
    )
    assert err.details == {"package": "s3fs", "extra": "s3"}


def test_near_matches() -> None:
    assert near_matches("acuracy", ["accuracy", "loss", "f1"]) == " Did you mean 'accuracy'?"
    both = near_matches("los", ["loss", "lost", "accuracy"])
    assert both in (" Did you mean 'loss', 'lost'?", " Did you mean 'lost', 'loss'?")
    assert near_matches("zzz", ["accuracy", "loss"]) == ""
    assert near_matches("x", []) == ""
    assert near_matches("val_los", (f"val_loss{i}" for i in range(10)), n=2).count("'") == 4


def test_http_refusals_have_classes_that_round_trip() -> None:
    from keel.errors import (
        PayloadTooLargeError,
        RateLimitedError,
        UnauthenticatedError,
        UnsupportedMediaTypeError,
    )

    expected = {
        UnauthenticatedError: 401,
        PayloadTooLargeError: 413,
        UnsupportedMediaTypeError: 415,
        RateLimitedError: 429,
    }
    for cls, status in expected.items():
        assert HTTP_STATUS[cls.code] == status
        again = error_from_code(cls.code, "m", {"retry_after": 3})
        assert type(again) is cls
        assert again.details == {"retry_after": 3}
    # Generic handlers still catch them: a missing token is a refusal, a too-large body a
    # bad argument.
    assert issubclass(UnauthenticatedError, PermissionDeniedError)
    assert issubclass(UnauthenticatedError, PermissionError)
    assert issubclass(PayloadTooLargeError, InvalidArgumentError)
    assert issubclass(UnsupportedMediaTypeError, ValueError)
