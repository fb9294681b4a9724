"""The validation benchmark's data and checks, shared by every side (standard library only).

25 columns, and 14 checks: not-null on 5 columns, ranges on 5, value sets on 2, a row count and
the uniqueness of an id. Each side builds the same checks in its own tool from these tables.
"""

from __future__ import annotations

NOT_NULL = ["tx_id", "customer_id", "amount", "country", "event_time"]
RANGES: dict[str, tuple[float, float]] = {
    "amount": (0, 50_000),
    "fee": (0, 500),
    "quantity": (1, 100),
    "age": (18, 100),
    "discount": (0, 1),
}
SETS: dict[str, list[str]] = {
    "country": ["DE", "FR", "IT", "ES", "NL"],
    "channel": ["web", "app", "store", "phone"],
}
MIN_ROWS = 1_000
UNIQUE = "tx_id"

#: Check labels, the same on every side, in this order.
LABELS = (
    [f"not_null:{c}" for c in NOT_NULL]
    + [f"between:{c}" for c in RANGES]
    + [f"in_set:{c}" for c in SETS]
    + ["row_count", f"unique:{UNIQUE}"]
)
assert len(LABELS) == 14


def suite_yaml() -> str:
    """The checks as a Keel YAML suite (for ``keel data validate``)."""
    lines = ["name: bench-14", "checks:", f"  - not_null: [{', '.join(NOT_NULL)}]"]
    for col, (lo, hi) in RANGES.items():
        lines.append(f"  - between: {{column: {col}, min: {lo}, max: {hi}}}")
    for col, values in SETS.items():
        lines.append(f"  - in_set: {{column: {col}, values: [{', '.join(values)}]}}")
    lines.append(f"  - row_count: {{min: {MIN_ROWS}}}")
    lines.append(f"  - unique: {UNIQUE}")
    return "\n".join(lines) + "\n"
