"""Batch scoring: ``keel.serving.predict_batch`` and ``keel predict`` over Parquet and CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.errors import InvalidArgumentError, NotFoundError, ValidationFailedError
from keel.serving._batch import predict_batch
from tests.conftest import from_template


def _frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n).astype(np.int64),
            "monthly": rng.normal(70, 20, n),
            "support_calls": rng.poisson(2, n).astype(np.int64),
        }
    )
    y = (X["monthly"] / 70 + X["support_calls"] * 0.3 - X["tenure"] / 72 > 0.9).astype(np.int64)
    return X, y.to_numpy()


def _register() -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = _frame(300)
    with keel.start_run():
        info = keel.log_model(
            LogisticRegression(max_iter=500).fit(X, y),
            "model",
            input_example=X[:5],
            registered_name="churn",
        )
    keel.models.set_alias("churn", "champion", version=info.version)
    return keel.load_model("models:/churn@champion")


@pytest.fixture
def model(keel_env: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    from_template(keel_env["store_uri"], request)
    return _register()


@pytest.fixture
def local_model(keel_home: Path, request: pytest.FixtureRequest) -> Any:
    from keel.config import get_settings

    from_template(get_settings().store_uri, request)
    return _register()


def _input(path: Path, n: int, **extra: Any) -> pd.DataFrame:
    X, _ = _frame(n, seed=1)
    X.insert(0, "customer_id", np.arange(n))
    for k, v in extra.items():
        X[k] = v
    if path.suffix == ".csv":
        X.to_csv(path, index=False)
    else:
        X.to_parquet(path, index=False, row_group_size=250)
    return X


def test_parquet_in_chunks_matches_predict_and_records_lineage(model: Any, tmp_path: Path) -> None:
    frame = _input(tmp_path / "in.parquet", 1000)
    seen: list[tuple[int, int, int]] = []
    result = predict_batch(
        "models:/churn@champion",
        tmp_path / "in.parquet",
        tmp_path / "out" / "scores.parquet",
        chunk_rows=128,
        progress=lambda *a: seen.append(a),
    )
    assert (result.num_rows, result.num_chunks) == (1000, 8)
    assert (result.model_name, result.model_version) == ("churn", 1)
    assert seen[-1] == (1000, 1000, 1000)
    assert [s[0] for s in seen] == [min(128 * i, 1000) for i in range(1, 9)]
    out = pq.read_table(result.output).to_pandas()
    assert list(out.columns) == ["customer_id", "tenure", "monthly", "support_calls", "prediction"]
    expected = model.predict(frame[["tenure", "monthly", "support_calls"]])
    np.testing.assert_array_equal(out["prediction"].to_numpy(), expected)
    np.testing.assert_array_equal(out["customer_id"].to_numpy(), np.arange(1000))
    assert [p.name for p in result.output.parent.iterdir()] == ["scores.parquet"]

    store = keel.tracking.get_client().store
    edges = store.list_lineage_edges(("model_version", "churn/1"), "downstream")
    batch = [e for e in edges if e.target_kind == "batch_prediction"]
    assert len(batch) == 1
    assert batch[0].target_id == result.id
    assert batch[0].relation == "scored"
    assert batch[0].properties["rows"] == 1000
    assert batch[0].properties["sha256"] == result.sha256
    assert batch[0].properties["output"] == str(result.output)
    events = [e for e in store.list_audit_events() if e.action == "lineage.add_edge"]
    assert any(e.details.get("relation") == "scored" for e in events), events
    assert store.verify_audit_chain().ok


def test_csv_input_and_csv_output_keep_selected_columns(local_model: Any, tmp_path: Path) -> None:
    frame = _input(tmp_path / "in.csv", 700)
    seen: list[tuple[int, int, int]] = []
    result = predict_batch(
        local_model,
        tmp_path / "in.csv",
        tmp_path / "out.csv",
        chunk_rows=300,
        keep_columns=["customer_id"],
        prediction_column="churn",
        progress=lambda *a: seen.append(a),
    )
    assert (result.num_rows, result.num_chunks) == (700, 3)
    size = (tmp_path / "in.csv").stat().st_size
    assert [s[0] for s in seen] == [300, 600, 700]
    assert seen[-1][1:] == (size, size)  # CSV progress is in bytes read
    out = pd.read_csv(result.output)
    assert list(out.columns) == ["customer_id", "churn"]
    expected = local_model.predict(frame[["tenure", "monthly", "support_calls"]])
    np.testing.assert_array_equal(out["churn"].to_numpy(), expected)


def test_missing_and_mistyped_columns_are_named_before_any_work(
    local_model: Any, tmp_path: Path
) -> None:
    (tmp_path / "w").mkdir()
    src = tmp_path / "w" / "in.parquet"
    frame = _input(src, 50)
    frame.drop(columns=["support_calls"]).assign(tenure=frame["tenure"].astype(str)).to_parquet(src)
    out = src.with_name("out.parquet")
    with pytest.raises(
        ValidationFailedError,
        match=r"does not match the model's signature: missing columns \['support_calls'\]; "
        r"mistyped columns 'tenure' \(expected long, got string\)",
    ):
        predict_batch("models:/churn/1", src, out)
    assert list(src.parent.iterdir()) == [src]


def test_a_bad_chunk_leaves_the_previous_output_untouched(local_model: Any, tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    src = tmp_path / "w" / "in.parquet"
    n = 600
    frame = _input(src, n)
    tenure = pd.array(frame["tenure"].to_numpy(), dtype="Int64")
    tenure[550] = None  # a missing value in the third chunk of an integer column
    pa_table = pa.Table.from_pandas(frame.assign(tenure=tenure), preserve_index=False)
    pq.write_table(pa_table, src, row_group_size=100)
    out = src.with_name("out.parquet")
    out.write_bytes(b"previous")
    with pytest.raises(ValidationFailedError, match=r"Rows 500 to 599 of .*'tenure'"):
        predict_batch(local_model, src, out, chunk_rows=250)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in src.parent.iterdir()) == ["in.parquet", "out.parquet"]


def test_bad_arguments_are_explained(local_model: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    _input(src, 10)
    with pytest.raises(NotFoundError, match=r"input file .*nope.parquet' does not exist"):
        predict_batch(local_model, tmp_path / "nope.parquet", tmp_path / "o.parquet")
    with pytest.raises(InvalidArgumentError, match=r"chunk_rows must be a positive integer"):
        predict_batch(local_model, src, tmp_path / "o.parquet", chunk_rows=0)
    with pytest.raises(InvalidArgumentError, match=r"Cannot tell the format .*'\.json'"):
        predict_batch(local_model, src, tmp_path / "o.json")
    with pytest.raises(InvalidArgumentError, match=r"\['custmer_id'\]. Did you mean 'customer_id'"):
        predict_batch(local_model, src, tmp_path / "o.parquet", keep_columns=["custmer_id"])
    with pytest.raises(InvalidArgumentError, match=r"already has the column\(s\) \['tenure'\]"):
        predict_batch(local_model, src, tmp_path / "o.parquet", prediction_column="tenure")
    (tmp_path / "o.parquet").write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match=r"exists. Remove it"):
        predict_batch(local_model, src, tmp_path / "o.parquet", overwrite=False)


def test_streams_one_chunk_at_a_time(local_model: Any, tmp_path: Path) -> None:
    """Arrow memory stays near one chunk however large the file: out-of-core scoring."""
    src = tmp_path / "big.parquet"
    n = 400_000
    X, _ = _frame(n, seed=2)
    X["pad"] = np.zeros(n)  # a passed-through column, 3.2 MB
    X.to_parquet(src, index=False, row_group_size=10_000)
    whole = pq.read_table(src).nbytes
    peak = [0]

    def watch(rows: int, done: int, total: int) -> None:
        peak[0] = max(peak[0], pa.total_allocated_bytes())

    before = pa.total_allocated_bytes()
    result = predict_batch(
        local_model, src, tmp_path / "out.parquet", chunk_rows=10_000, progress=watch
    )
    assert result.num_rows == n
    assert peak[0] - before < whole / 5, (peak[0] - before, whole)


def test_cli_predict_with_progress(local_model: Any, tmp_path: Path) -> None:
    _input(tmp_path / "in.parquet", 300)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "predict",
            "models:/churn@champion",
            "--input",
            str(tmp_path / "in.parquet"),
            "--output",
            str(tmp_path / "out.parquet"),
            "--chunk-rows",
            "100",
            "--keep",
            "customer_id",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Scored 300 rows with churn v1 in 3 chunk(s)" in " ".join(res.output.split())
    assert pq.read_table(tmp_path / "out.parquet").column_names == ["customer_id", "prediction"]
    res = runner.invoke(
        app,
        ["predict", "models:/churn@nope", "-i", str(tmp_path / "in.parquet"), "-o", "x.parquet"],
    )
    assert res.exit_code == 1
    assert "Error:" in res.output


def test_an_empty_file_gives_an_empty_output(local_model: Any, tmp_path: Path) -> None:
    src = tmp_path / "empty.parquet"
    _input(src, 0)
    result = predict_batch(local_model, src, tmp_path / "out.parquet")
    assert (result.num_rows, result.num_chunks) == (0, 0)
    table = pq.read_table(result.output)
    assert table.num_rows == 0
    assert table.column_names[-1] == "prediction"


def test_an_array_model_from_a_run_uri_scores_every_column(
    keel_home: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from sklearn.linear_model import LinearRegression

    from keel.config import get_settings

    from_template(get_settings().store_uri, request)
    X, _ = _frame(100)
    arr = X.to_numpy(dtype=np.float64)
    with keel.start_run() as run:
        keel.log_model(LinearRegression().fit(arr, arr[:, 1] * 2), "model", input_example=arr[:3])
    src = tmp_path / "in.parquet"
    X.to_parquet(src, index=False)
    result = predict_batch(f"runs:/{run.id}/model", src, tmp_path / "out.parquet", chunk_rows=40)
    assert (result.num_rows, result.num_chunks, result.model_name) == (100, 3, None)
    out = pq.read_table(result.output).column("prediction").to_numpy()
    np.testing.assert_allclose(out, X["monthly"].to_numpy() * 2)
    edges = keel.tracking.get_client().store.list_lineage_edges(("run", run.id), "downstream")
    assert [e.target_id for e in edges if e.target_kind == "batch_prediction"] == [result.id]
