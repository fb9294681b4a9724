"""Registering, versioning, reading and looking up datasets, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import keel
import keel.data as kd
from keel.errors import InvalidArgumentError, NotFoundError


def blob_count(home: Path) -> int:
    return sum(1 for p in (home / "artifacts" / "sha256").glob("*/*/*") if p.is_file())


def test_register_parquet_and_read_it_back(
    keel_env: dict[str, Any], tx_parquet: Path, transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("transactions", tx_parquet, description="first drop")
    assert (ds.name, ds.version, ds.number, ds.ref) == ("transactions", "v1", 1, "transactions@v1")
    assert (ds.num_rows, ds.num_columns, ds.num_files) == (2000, 6, 1)
    assert ds.schema["amount"] == "float64"
    assert ds.schema["country"] == "string"
    assert ds.schema["event_time"] == "timestamp"
    assert ds.source == str(tx_parquet.resolve())
    assert ds.source_format == "parquet"
    assert ds.size_bytes == tx_parquet.stat().st_size
    assert ds.lineage_node() == ("dataset_version", "transactions@v1")
    got = keel.datasets.get("transactions@v1")
    assert got == ds
    pd.testing.assert_frame_equal(got.to_pandas(), transactions)
    assert got.to_arrow(["tx_id"]).column_names == ["tx_id"]
    assert got.sql("SELECT count(*) FROM data").fetchall() == [(2000,)]
    got.close()


def test_same_content_returns_the_existing_version_without_a_copy(
    keel_env: dict[str, Any], tx_parquet: Path, tmp_path: Path
) -> None:
    home = keel_env["home"]
    first = keel.datasets.register("transactions", tx_parquet)
    blobs = blob_count(home)
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(tx_parquet.read_bytes())
    again = keel.datasets.register("transactions", copy)
    assert again.version == "v1"
    assert again.reused
    assert not first.reused
    assert blob_count(home) == blobs
    assert [v.version for v in keel.datasets.versions("transactions")] == ["v1"]
    # The same bytes under another name are a version there, still stored once.
    other = keel.datasets.register("tx-copy", tx_parquet)
    assert other.ref == "tx-copy@v1"
    assert other.digest == first.digest
    assert blob_count(home) == blobs


def test_new_content_gets_the_next_version_and_latest_resolves(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    v1 = keel.datasets.register("tx", transactions)
    assert keel.datasets.register("tx", transactions.copy()).reused  # same frame, same bytes
    v2 = keel.datasets.register("tx", transactions.head(100))
    assert (v1.version, v2.version) == ("v1", "v2")
    assert keel.datasets.get("tx@latest") == v2
    assert keel.datasets.get("tx") == v2
    assert keel.datasets.get("tx@1") == v1
    assert keel.datasets.get("tx", version=1) == v1
    [summary] = keel.datasets.list()
    assert (summary.name, summary.num_versions, summary.latest_version) == ("tx", 2, "v2")
    assert summary.latest() == v2


def test_register_csv_polars_and_arrow(
    keel_home: Path, tmp_path: Path, transactions: pd.DataFrame
) -> None:
    csv = tmp_path / "tx.csv"
    transactions.to_csv(csv, index=False)
    from_csv = keel.datasets.register("from-csv", csv)
    assert from_csv.source_format == "csv"
    assert from_csv.num_rows == 2000
    assert from_csv.schema["tx_id"] == "int64"
    assert from_csv.schema["event_time"] == "timestamp"
    assert keel.datasets.register("from-csv", csv).version == "v1"  # deterministic conversion

    table = pa.Table.from_pandas(transactions, preserve_index=False)
    from_arrow = keel.datasets.register("from-arrow", table)
    assert from_arrow.source_format == "arrow"
    assert from_arrow.to_arrow().equals(table.replace_schema_metadata(None), check_metadata=False)

    pl = pytest.importorskip("polars")
    from_polars = keel.datasets.register("from-polars", pl.from_pandas(transactions))
    assert from_polars.source_format == "polars"
    assert from_polars.to_polars().height == 2000


def test_register_a_folder_of_parquet_as_a_manifest(
    keel_env: dict[str, Any], tmp_path: Path, transactions: pd.DataFrame
) -> None:
    folder = tmp_path / "parts"
    (folder / "day=2").mkdir(parents=True)
    transactions.iloc[:700].to_parquet(folder / "part-0.parquet", index=False)
    transactions.iloc[700:].to_parquet(folder / "day=2" / "part-1.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    ds = keel.datasets.register("parts", folder)
    assert (ds.num_files, ds.num_rows, ds.source_format) == (2, 2000, "folder")
    assert [f["path"] for f in ds.manifest()] == ["day=2/part-1.parquet", "part-0.parquet"]
    assert len(ds.to_pandas()) == 2000
    assert keel.datasets.register("parts", folder).reused
    result = kd.Suite("s", checks=[kd.not_null("email")]).validate(ds)
    assert result.passed


def test_folder_with_different_schemas_is_refused(keel_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(pa.table({"a": [1]}), folder / "a.parquet")
    pq.write_table(pa.table({"a": ["x"]}), folder / "b.parquet")
    with pytest.raises(InvalidArgumentError, match="must share a schema"):
        keel.datasets.register("mixed", folder)


def test_malformed_csv_names_the_line(keel_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    rows = "".join(f"{i},{i * 2}\n" for i in range(3000))
    bad.write_text("a,b\n" + rows + "1,2,3\n4,5\n")
    with pytest.raises(InvalidArgumentError, match=r"malformed at line 3002") as info:
        keel.datasets.register("bad", bad)
    assert info.value.details["line"] == 3002
    short = tmp_path / "short.csv"
    short.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(
        InvalidArgumentError, match=r"malformed at line 4: it has 3 fields where the header has 2"
    ):
        keel.datasets.register("bad", short)
    with pytest.raises(NotFoundError, match="No dataset is named 'bad'"):
        keel.datasets.get("bad")  # nothing was registered


def test_csv_with_a_value_of_the_wrong_type_names_the_line(keel_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "typed.csv"
    bad.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(30_000)) + "7,hello\n")
    with pytest.raises(InvalidArgumentError, match=r"line 30002: Error when converting column"):
        keel.datasets.register("typed", bad)
    typed = keel.datasets.register("typed", bad, csv_options={"types": {"b": "VARCHAR"}})
    assert typed.schema["b"] == "string"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_empty_file_is_refused(keel_home: Path, tmp_path: Path, suffix: str) -> None:
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match=r"is empty \(0 bytes\)"):
        keel.datasets.register("empty", empty)


def test_bad_sources_say_what_is_accepted(keel_home: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file or folder"):
        keel.datasets.register("x", tmp_path / "missing.parquet")
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(InvalidArgumentError, match="Keel reads Parquet"):
        keel.datasets.register("x", tmp_path / "notes.json")
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet at all")
    with pytest.raises(InvalidArgumentError, match="not one"):
        keel.datasets.register("x", fake)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(InvalidArgumentError, match="is not readable Parquet"):
        keel.datasets.register("x", truncated)
    with pytest.raises(InvalidArgumentError, match="Cannot register a 'dict'"):
        keel.datasets.register("x", {"a": [1]})
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(InvalidArgumentError, match="holds no Parquet files"):
        keel.datasets.register("x", tmp_path / "empty-folder")
    with pytest.raises(InvalidArgumentError, match="Invalid dataset name 'a b'"):
        keel.datasets.register("a b", pd.DataFrame({"a": [1]}))


def test_unknown_dataset_or_version_lists_near_names(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    keel.datasets.register("transactions", transactions)
    keel.datasets.register("transactions", transactions.head(10))
    with pytest.raises(NotFoundError, match="Did you mean 'transactions'"):
        keel.datasets.get("transaction@v1")
    with pytest.raises(NotFoundError, match="has no version v7. Its versions: v1, v2"):
        keel.datasets.get("transactions@v7")
    with pytest.raises(InvalidArgumentError, match="Invalid dataset version 'vx'"):
        keel.datasets.get("transactions@vx")
    with pytest.raises(NotFoundError, match="Registered datasets: 'transactions'"):
        keel.datasets.get("zzz")
    with pytest.raises(NotFoundError, match="neither an existing file nor a dataset reference"):
        kd.validate("data/missing.parquet", kd.Suite("s"))


def test_concurrent_registration_never_shares_a_version_number(keel_env: dict[str, Any]) -> None:
    errors: list[BaseException] = []
    versions: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            ds = keel.datasets.register("busy", pd.DataFrame({"i": [i], "x": [float(i)]}))
            with lock:
                versions.append(ds.number)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(versions) == list(range(1, 9))


def test_parents_become_lineage_edges_and_runs_record_inputs(
    keel_env: dict[str, Any], transactions: pd.DataFrame
) -> None:
    raw = keel.datasets.register("raw", transactions)
    clean = keel.datasets.register(
        "clean", transactions.query("amount > 10"), parents=[raw, "raw@latest"]
    )
    assert clean.parents == ["raw@v1", "raw@v1"]
    client = kd._client.get_data_client()
    edges = client.store.list_lineage_edges(clean.lineage_node(), direction="upstream")
    assert [(e.source_id, e.relation) for e in edges] == [("raw@v1", "derived_from")]
    with keel.start_run() as run:
        keel.log_input(clean)
    upstream = client.store.list_lineage_edges(("run", run.id), direction="upstream")
    assert [(e.source_kind, e.source_id) for e in upstream] == [("dataset_version", "clean@v1")]
    with pytest.raises(NotFoundError, match="No dataset is named 'nope'"):
        keel.datasets.register("x", transactions, parents=["nope@v1"])


def test_registration_is_audited(keel_env: dict[str, Any], transactions: pd.DataFrame) -> None:
    keel.datasets.register("audited", transactions)
    store = kd._client.get_data_client().store
    actions = [e.action for e in store.list_audit_events()]
    assert "dataset.create" in actions
    assert "dataset_version.create" in actions
    assert store.verify_audit_chain().ok


def test_damaged_blob_is_refused(keel_home: Path, transactions: pd.DataFrame) -> None:
    from keel.errors import IntegrityError

    ds = keel.datasets.register("fragile", transactions)
    path = ds.paths()[0]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its digest"):
        ds.verify()
    from keel.data._client import reset_data_client

    reset_data_client()  # a new process has not verified the blob yet
    with pytest.raises(IntegrityError, match="refuses to read it"):
        keel.datasets.get("fragile@v1").to_pandas()


def test_numpy_heavy_frame_round_trips(keel_home: Path) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(500, 25)), columns=[f"f{i}" for i in range(25)])
    ds = keel.datasets.register("wide", df)
    assert ds.num_columns == 25
    pd.testing.assert_frame_equal(ds.to_pandas(), df)
