"""Schemathesis against the server's OpenAPI spec, bounded in time: no request gets a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.server.conftest import KeelServer

schemathesis = pytest.importorskip("schemathesis")

#: Examples per operation: bounds the test's time (about 60 operations).
EXAMPLES = 8


@pytest.mark.slow
def test_no_server_errors(keel_server: KeelServer, server_process_env: KeelServer) -> None:
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{keel_server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {keel_server.tokens['root']}"}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def exercise(case: Any) -> None:
            # A 5xx raises schemathesis's failure report, naming the request to reproduce it.
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        exercise()
    assert operations > 50
