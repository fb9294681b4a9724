"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

Every capability adds its tables in ``keel/store/_schema_<capability>.py`` and one migration in
``migrations/versions``; these tests hold the two together for all of them at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text
from typer.testing import CliRunner

import keel.store
from keel.cli import app
from keel.config import reset_settings
from keel.store import schema_heads
from keel.store._engine import _alembic_config
from keel.store._schema import all_metadata

VERSIONS = Path(keel.store.__file__).parent / "migrations" / "versions"


def _script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def _upgrade_with_alembic(uri: str) -> None:
    """Run ``alembic upgrade heads`` on an empty database, without Keel's first-use code."""
    url = make_url(uri)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    cfg = _alembic_config()
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
            conn.commit()
    finally:
        engine.dispose()


def _differences(uri: str) -> list[Any]:
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, all_metadata()))
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(store_uri: str) -> None:
    _upgrade_with_alembic(store_uri)
    diffs = _differences(store_uri)
    assert diffs == [], (
        "The migrations and the models in keel/store/_schema*.py disagree; fix the migration "
        "of the capability named below:\n" + "\n".join(map(repr, diffs))
    )
    engine = create_engine(store_uri)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {*all_metadata().tables, "alembic_version"}


def test_schema_heads_agrees_with_alembic() -> None:
    schema_heads.cache_clear()  # cached per process; scripts may have been added since
    assert set(schema_heads()) == set(_script_directory().get_heads())


def test_migration_scripts_are_well_formed() -> None:
    scripts = _script_directory()
    revisions = list(scripts.walk_revisions())
    files = sorted(p.name for p in VERSIONS.glob("*.py") if p.name != "__init__.py")
    assert len(revisions) == len(files), "each file in migrations/versions holds one revision"
    ids = [r.revision for r in revisions]
    assert len(ids) == len(set(ids)), f"duplicate revision ids: {ids}"
    assert scripts.get_bases() == ["0001"], "0001 is the one root every branch grows from"
    for rev in revisions:
        assert rev.module.__doc__, f"revision {rev.revision} has no docstring"
        # schema_heads() reads these two lines as text: keep them simple assignments.
        source = Path(rev.path).read_text(encoding="utf-8")
        assert re.search(rf"^revision\s*=\s*['\"]{re.escape(rev.revision)}['\"]", source, re.M)
        if rev.revision != "0001":
            assert re.search(r"^down_revision\s*=", source, re.M)


def test_keel_db_upgrade_migrates_a_fresh_store_and_is_idempotent(
    keel_env: dict[str, Any],
) -> None:
    reset_settings()
    schema_heads.cache_clear()
    heads = ", ".join(sorted(schema_heads()))
    for _ in range(2):
        result = CliRunner().invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"Metadata store is at schema {heads}." in " ".join(result.output.split())
    engine = create_engine(keel_env["store_uri"])
    try:
        with engine.connect() as conn:
            recorded = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
    finally:
        engine.dispose()
    assert recorded == set(schema_heads())
    assert _differences(keel_env["store_uri"]) == []
