"""A run's artifacts through the public API (``keel.log_artifact`` and friends), local and S3.

Also the path-safety rules: nothing may land outside a run's namespace, and a rejected call
records and uploads nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import keel
from keel.artifacts import blob_key
from keel.config import reset_settings
from keel.errors import (
    ArtifactPathError,
    IntegrityError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)
from keel.tracking import get_client, reset_client


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def artifact_env(
    request: pytest.FixtureRequest, keel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A Keel home whose artifacts live in a local folder, or in a bucket on moto's server."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("KEEL_ARTIFACT_URI", f"s3://{bucket}/keel")
    reset_client()
    reset_settings()
    yield request.param
    reset_client()
    reset_settings()


def _blobs() -> list[str]:
    return list(get_client().artifacts.iter_digests())


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "src" / "data"
    (data / "nested" / "deeper").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "nested" / "b.csv").write_text("x,y\n1,2\n")
    (data / "nested" / "deeper" / "c.bin").write_bytes(bytes(range(256)))
    return data


def test_log_a_file(artifact_env: str, tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    with keel.start_run() as run:
        entries = keel.log_artifact(src)
    assert [(e.path, e.size) for e in entries] == [("notes.txt", 5)]
    listed = keel.list_artifacts(run.id)
    assert listed == entries
    assert get_client().artifacts.get_bytes(listed[0].digest) == b"hello"


def test_log_a_file_under_an_artifact_path(artifact_env: str, tmp_path: Path) -> None:
    src = tmp_path / "confusion.png"
    src.write_bytes(b"\x89PNG fake")
    with keel.start_run() as run:
        keel.log_artifact(src, artifact_path="plots/eval")
        keel.log_artifact(src, artifact_path="./plots//train/")  # normalized
    assert [e.path for e in keel.list_artifacts(run.id)] == [
        "plots/eval/confusion.png",
        "plots/train/confusion.png",
    ]


def test_log_a_nested_folder(artifact_env: str, folder: Path, tmp_path: Path) -> None:
    with keel.start_run() as run:
        keel.log_artifact(folder)
        keel.log_artifact(folder, artifact_path="inputs")
    paths = [e.path for e in keel.list_artifacts(run.id)]
    assert paths == [
        "data/a.txt",
        "data/nested/b.csv",
        "data/nested/deeper/c.bin",
        "inputs/data/a.txt",
        "inputs/data/nested/b.csv",
        "inputs/data/nested/deeper/c.bin",
    ]
    assert [e.path for e in keel.list_artifacts(run.id, "data/nested")] == [
        "data/nested/b.csv",
        "data/nested/deeper/c.bin",
    ]
    # Identical content is stored once, however many paths point at it.
    assert len(_blobs()) == 3 + 1  # three files plus the run's environment snapshot


def test_list_artifacts_by_prefix_matches_whole_path_components(
    artifact_env: str, tmp_path: Path
) -> None:
    with keel.start_run() as run:
        keel.log_text("m", "model/weights.bin")
        keel.log_text("m2", "model2/weights.bin")
        keel.log_text("txt", "model.txt")
        keel.log_text("odd", "mod%l/x")
    assert [e.path for e in keel.list_artifacts(run.id, "model")] == ["model/weights.bin"]
    assert [e.path for e in keel.list_artifacts(run.id, "model.txt")] == ["model.txt"]
    assert [e.path for e in keel.list_artifacts(run.id, "mod%l")] == ["mod%l/x"]
    assert keel.list_artifacts(run.id, "mode") == []


def test_log_dict_and_load_dict_round_trip(artifact_env: str) -> None:
    config = {"lr": 0.1, "layers": [64, 32], "name": "café ☕", "nested": {"on": True}}
    with keel.start_run() as run:
        entry = keel.log_dict(config, "config/train.json")
        keel.log_text("plain text\n", "README.txt")
    assert entry.path == "config/train.json"
    assert keel.load_dict(run.id, "config/train.json") == config
    assert keel.load_dict(run.id, "./config//train.json") == config


def test_log_dict_rejects_what_json_cannot_encode(artifact_env: str) -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with keel.start_run() as run:
        with pytest.raises(InvalidArgumentError, match="Cannot write 'bad.json' as JSON"):
            keel.log_dict(loop, "bad.json")
        with pytest.raises(InvalidArgumentError, match="artifact_file must name a file"):
            keel.log_dict({}, "")
    assert keel.list_artifacts(run.id) == []


def test_load_dict_of_an_unknown_file_suggests_near_names(artifact_env: str) -> None:
    with keel.start_run() as run:
        keel.log_dict({"a": 1}, "metrics.json")
    with pytest.raises(
        NotFoundError, match=r"no artifact 'metric.json'\. Did you mean 'metrics.json'"
    ):
        keel.load_dict(run.id, "metric.json")


def test_logging_a_path_again_points_it_at_the_new_content(
    artifact_env: str, tmp_path: Path
) -> None:
    with keel.start_run() as run:
        keel.log_text("v1", "model.txt")
        keel.log_text("version two", "model.txt")
    (entry,) = keel.list_artifacts(run.id)
    assert entry.size == len("version two")
    out = keel.download_artifacts(run.id, "model.txt", tmp_path / "dl")
    assert out.read_text() == "version two"


def test_download_artifacts(artifact_env: str, folder: Path, tmp_path: Path) -> None:
    with keel.start_run() as run:
        keel.log_artifact(folder, artifact_path="inputs")
        keel.log_dict({"k": 1}, "params.json")
    everything = keel.download_artifacts(run.id, dst_path=tmp_path / "all")
    assert everything == tmp_path / "all"
    assert _tree(everything) == {
        "inputs/data/a.txt": b"alpha",
        "inputs/data/nested/b.csv": b"x,y\n1,2\n",
        "inputs/data/nested/deeper/c.bin": bytes(range(256)),
        "params.json": b'{\n  "k": 1\n}',
    }
    sub = keel.download_artifacts(run.id, "inputs/data/nested", tmp_path / "sub")
    assert sub == tmp_path / "sub" / "inputs" / "data" / "nested"
    assert _tree(sub) == {"b.csv": b"x,y\n1,2\n", "deeper/c.bin": bytes(range(256))}
    one = keel.download_artifacts(run.id, "params.json", tmp_path / "one")
    assert one.read_bytes() == b'{\n  "k": 1\n}'
    default = keel.download_artifacts(run.id, "params.json")  # a new temp folder
    assert default.read_bytes() == one.read_bytes()


def test_download_of_an_unknown_path_is_not_found(artifact_env: str, tmp_path: Path) -> None:
    with keel.start_run() as run:
        keel.log_text("x", "plots/roc.png")
    with pytest.raises(NotFoundError, match=r"has no artifact 'plots/rocs.png'\. Did you mean"):
        keel.download_artifacts(run.id, "plots/rocs.png", tmp_path / "dl")
    assert not (tmp_path / "dl").exists()


def test_download_refuses_tampered_bytes(keel_home: Path, tmp_path: Path) -> None:
    with keel.start_run() as run:
        (entry,) = [keel.log_text("the real model", "model.pkl")]
    blob = Path(get_client().artifacts.uri) / blob_key(entry.digest)
    blob.chmod(0o644)
    blob.write_bytes(b"a malicious model")
    with pytest.raises(IntegrityError, match="does not match its digest"):
        keel.download_artifacts(run.id, "model.pkl", tmp_path / "dl")
    assert not (tmp_path / "dl" / "model.pkl").exists()
    with pytest.raises(IntegrityError):
        keel.load_dict(run.id, "model.pkl")


# -- path safety: nothing lands outside the run's namespace --------------------------------------


@pytest.mark.parametrize("path", ["..", "../escape", "a/../../b", "a/..", "plots\\..\\..\\x"])
def test_dotdot_traversal_is_rejected(keel_home: Path, tmp_path: Path, path: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with keel.start_run() as run:
        with pytest.raises(ArtifactPathError, match=r"contains '\.\.', which could escape"):
            keel.log_artifact(src, artifact_path=path)
        with pytest.raises(ArtifactPathError, match=r"contains '\.\.'"):
            keel.log_text("x", path + "/f.txt")
        with pytest.raises(ArtifactPathError, match=r"contains '\.\.'"):
            keel.download_artifacts(run.id, path, tmp_path / "dl")
    assert keel.list_artifacts(run.id) == []


@pytest.mark.parametrize("path", ["/etc", "/tmp/x", "//server/share", "\\\\server\\share\\x"])
def test_absolute_paths_are_rejected(keel_home: Path, tmp_path: Path, path: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with keel.start_run() as run:
        with pytest.raises(ArtifactPathError, match=r"is absolute\. Give a path relative"):
            keel.log_artifact(src, artifact_path=path)
        with pytest.raises(ArtifactPathError, match="is absolute"):
            keel.log_dict({}, path + "/x.json")
    assert keel.list_artifacts(run.id) == []


@pytest.mark.parametrize("path", ["C:\\Users\\me", "c:/temp", "D:relative", "Z:"])
def test_windows_drive_paths_are_rejected(keel_home: Path, tmp_path: Path, path: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with keel.start_run() as run, pytest.raises(ArtifactPathError, match="is absolute"):
        keel.log_artifact(src, artifact_path=path)
    assert keel.list_artifacts(run.id) == []


@pytest.mark.parametrize("path", ["a\x00b", "\x00", "plots/\x00/x.png"])
def test_nul_characters_are_rejected(keel_home: Path, tmp_path: Path, path: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with keel.start_run() as run:
        with pytest.raises(ArtifactPathError, match="contains a NUL character"):
            keel.log_artifact(src, artifact_path=path)
        with pytest.raises(ArtifactPathError, match="contains a NUL character"):
            keel.log_text("x", path)
    assert keel.list_artifacts(run.id) == []


def test_non_string_artifact_path_is_rejected(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with keel.start_run(), pytest.raises(ArtifactPathError, match="must be a string, got 42"):
        keel.log_artifact(src, artifact_path=42)  # type: ignore[arg-type]


def test_a_symlink_out_of_the_folder_is_rejected_and_nothing_is_recorded(
    keel_home: Path, folder: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("do not upload")
    (folder / "nested" / "leak.key").symlink_to(secret)
    with keel.start_run() as run:
        blobs_before = _blobs()
        with pytest.raises(ArtifactPathError, match=r"leak\.key' is a symlink to .*outside"):
            keel.log_artifact(folder)
    assert keel.list_artifacts(run.id) == []
    assert _blobs() == blobs_before  # not even the files before the link were uploaded


def test_a_symlinked_folder_out_of_the_folder_is_rejected(
    keel_home: Path, folder: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    with keel.start_run() as run, pytest.raises(ArtifactPathError, match="outside the folder"):
        keel.log_artifact(folder)
    assert keel.list_artifacts(run.id) == []


def test_symlinks_inside_the_folder_are_followed(keel_home: Path, folder: Path) -> None:
    (folder / "alias.txt").symlink_to(folder / "a.txt")
    (folder / "relative-alias.csv").symlink_to(Path("nested") / "b.csv")
    (folder / "nested-again").symlink_to(folder / "nested", target_is_directory=True)
    with keel.start_run() as run:
        keel.log_artifact(folder)
    entries = {e.path: e for e in keel.list_artifacts(run.id)}
    assert sorted(entries) == [
        "data/a.txt",
        "data/alias.txt",
        "data/nested-again/b.csv",
        "data/nested-again/deeper/c.bin",
        "data/nested/b.csv",
        "data/nested/deeper/c.bin",
        "data/relative-alias.csv",
    ]
    assert entries["data/alias.txt"].digest == entries["data/a.txt"].digest
    assert entries["data/relative-alias.csv"].digest == entries["data/nested/b.csv"].digest


def test_a_symlink_loop_inside_the_folder_is_rejected(keel_home: Path, folder: Path) -> None:
    # Regression: a link to an enclosing folder stayed "inside", so it was followed again and
    # again: 40 levels of data/nested/up/nested/up/... were uploaded before the OS gave up.
    (folder / "nested" / "up").symlink_to("..", target_is_directory=True)
    loop = pytest.raises(ArtifactPathError, match="a folder that contains the link")
    with keel.start_run() as run, loop:
        keel.log_artifact(folder)
    assert keel.list_artifacts(run.id) == []


def test_an_unknown_local_path_is_not_found(keel_home: Path, tmp_path: Path) -> None:
    missing = pytest.raises(NotFoundError, match=r"Cannot log '.*nope\.txt' as an artifact: no")
    with keel.start_run() as run, missing:
        keel.log_artifact(tmp_path / "nope.txt")
    assert keel.list_artifacts(run.id) == []


def test_a_fifo_is_neither_a_file_nor_a_folder(keel_home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with keel.start_run(), pytest.raises(InvalidArgumentError, match="neither a file nor a folder"):
        keel.log_artifact(fifo)


def test_logging_without_an_active_run_is_an_error(keel_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(InvalidStateError, match="No run is active"):
        keel.log_artifact(src)
    with pytest.raises(InvalidStateError, match="No run is active"):
        keel.log_dict({}, "x.json")


def test_artifacts_of_an_unknown_run_are_not_found(keel_home: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        keel.list_artifacts("0" * 32)
    with pytest.raises(NotFoundError):
        keel.download_artifacts("0" * 32, dst_path=tmp_path)
