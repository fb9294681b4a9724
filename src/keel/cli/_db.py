"""``keel db``: the metadata database's schema."""

from __future__ import annotations

import typer

from keel.cli._output import console

app = typer.Typer(help="The metadata database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the metadata store to this Keel's schema (also done on first use)."""
    from keel.config import get_settings
    from keel.store import SqlMetadataStore, schema_heads

    settings = get_settings()
    store = SqlMetadataStore(settings.store_uri, actor=settings.user)
    store.close()
    console.print(f"Metadata store is at schema {', '.join(sorted(schema_heads()))}.")
