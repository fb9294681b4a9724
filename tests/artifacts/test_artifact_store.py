"""The artifact store contract, run against every backend: a local folder and S3 (moto server).

One suite, two implementations (as scikit-learn runs every estimator through the same checks):
content addressing and dedup, verified reads, missing blobs, listing, delete, quarantine, size,
large files, and atomic writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keel.artifacts import (
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    blob_key,
    open_artifact_store,
)
from keel.errors import IntegrityError, InvalidArgumentError, NotFoundError, StoreUnavailableError

BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.s3)]
MB = 1024 * 1024


class Backend:
    """An artifact store plus raw access to its storage, to tamper with blobs behind its back."""

    def __init__(
        self,
        store: ArtifactStore,
        read_raw: Callable[[str], bytes | None],
        write_raw: Callable[[str, bytes], None],
        count_raw: Callable[[], int],
        is_s3: bool = False,
    ) -> None:
        self.store = store
        self.is_s3 = is_s3
        self.read_raw = read_raw  # key relative to the store's root -> bytes, None if absent
        self.write_raw = write_raw
        self.count_raw = count_raw  # objects stored under sha256/


def _local_backend(root: Path) -> Backend:
    store = LocalArtifactStore(root)

    def read_raw(key: str) -> bytes | None:
        p = root / key
        return p.read_bytes() if p.is_file() else None

    def write_raw(key: str, data: bytes) -> None:
        p = root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            p.chmod(stat.S_IWUSR | stat.S_IRUSR)
        p.write_bytes(data)

    def count_raw() -> int:
        base = root / "sha256"
        return sum(1 for p in base.rglob("*") if p.is_file()) if base.exists() else 0

    return Backend(store, read_raw, write_raw, count_raw)


def _s3_backend(bucket: str, endpoint: str) -> Backend:
    import boto3

    prefix = "team/artifacts"
    store = open_artifact_store(f"s3://{bucket}/{prefix}", s3_endpoint_url=endpoint)
    assert isinstance(store, S3ArtifactStore)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def read_raw(key: str) -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body

    def write_raw(key: str, data: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)

    def count_raw() -> int:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/sha256/")
        return int(listing.get("KeyCount", 0))

    return Backend(store, read_raw, write_raw, count_raw, is_s3=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield _local_backend(tmp_path / "blobs")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        yield _s3_backend(bucket, os.environ["KEEL_S3_ENDPOINT_URL"])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tamper(backend: Backend, digest: str) -> None:
    raw = backend.read_raw(blob_key(digest))
    assert raw is not None
    backend.write_raw(blob_key(digest), bytes([raw[0] ^ 0xFF]) + raw[1:])


# -- content addressing ------------------------------------------------------------------------


def test_put_bytes_returns_the_sha256_and_stores_identical_content_once(backend: Backend) -> None:
    store = backend.store
    first = store.put_bytes(b"hello keel")
    second = store.put_bytes(b"hello keel")
    assert first == second == _sha(b"hello keel")
    assert list(store.iter_digests()) == [first]
    assert backend.count_raw() == 1
    assert backend.read_raw(blob_key(first)) == b"hello keel"


def test_put_file_dedups_with_put_bytes(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights" * 1000)
    digest, size = store.put_file(src)
    assert (digest, size) == (_sha(b"weights" * 1000), 7000)
    assert store.put_file(src) == (digest, size)
    assert store.put_bytes(b"weights" * 1000) == digest
    assert backend.count_raw() == 1
    assert src.read_bytes() == b"weights" * 1000  # the source is left alone


def test_empty_blob_round_trips(backend: Backend, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    digest, size = backend.store.put_file(empty)
    assert (digest, size) == (_sha(b""), 0)
    assert backend.store.get_bytes(digest) == b""
    assert backend.store.size(digest) == 0


def test_exists(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"x")
    assert backend.store.exists(digest)
    assert not backend.store.exists(_sha(b"never stored"))


@pytest.mark.parametrize(
    "bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 63 + "/", "a" * 65]
)
def test_a_malformed_digest_is_rejected(backend: Backend, bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a sha256 digest"):
        backend.store.get_bytes(bad)
    with pytest.raises(InvalidArgumentError, match="is not a sha256 digest"):
        backend.store.exists(bad)


# -- verified reads ----------------------------------------------------------------------------


def test_get_bytes_and_download_return_the_content(backend: Backend, tmp_path: Path) -> None:
    digest = backend.store.put_bytes(b"payload")
    assert backend.store.get_bytes(digest) == b"payload"
    dest = tmp_path / "out" / "deep" / "payload.bin"
    backend.store.download(digest, dest)
    assert dest.read_bytes() == b"payload"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["payload.bin"]  # no temp left
    assert backend.store.verify(digest)


def test_get_bytes_refuses_tampered_bytes(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"trusted model")
    _tamper(backend, digest)
    with pytest.raises(IntegrityError, match=f"Blob '{digest}' .* does not match its digest"):
        backend.store.get_bytes(digest)
    assert not backend.store.verify(digest)


def test_download_refuses_tampered_bytes_and_writes_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    digest = backend.store.put_bytes(b"trusted model" * 100)
    _tamper(backend, digest)
    dest = tmp_path / "dl" / "model.pkl"
    with pytest.raises(IntegrityError, match="does not match its digest"):
        backend.store.download(digest, dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # the temp file is gone too


def test_download_over_an_existing_file_keeps_it_when_the_blob_is_tampered(
    backend: Backend, tmp_path: Path
) -> None:
    digest = backend.store.put_bytes(b"new version")
    _tamper(backend, digest)
    dest = tmp_path / "model.pkl"
    dest.write_bytes(b"old version")
    with pytest.raises(IntegrityError):
        backend.store.download(digest, dest)
    assert dest.read_bytes() == b"old version"


def test_missing_blob_is_not_found(backend: Backend, tmp_path: Path) -> None:
    missing = _sha(b"never stored")
    with pytest.raises(NotFoundError, match=f"Blob '{missing}' is not in the artifact store"):
        backend.store.get_bytes(missing)
    dest = tmp_path / "dl" / "x"
    with pytest.raises(NotFoundError, match="is not in the artifact store"):
        backend.store.download(missing, dest)
    assert not dest.exists()
    assert not backend.store.verify(missing)


def test_size_of_a_missing_blob_is_not_found(backend: Backend) -> None:
    # Regression: size() leaked a bare FileNotFoundError instead of Keel's NotFoundError.
    with pytest.raises(NotFoundError, match="is not in the artifact store"):
        backend.store.size(_sha(b"never stored"))


# -- listing, delete, quarantine, size ---------------------------------------------------------


def test_iter_digests_lists_every_blob_sorted(backend: Backend) -> None:
    assert list(backend.store.iter_digests()) == []
    digests = {backend.store.put_bytes(f"blob {i}".encode()) for i in range(5)}
    assert list(backend.store.iter_digests()) == sorted(digests)


def test_delete(backend: Backend) -> None:
    keep = backend.store.put_bytes(b"keep")
    gone = backend.store.put_bytes(b"gone")
    backend.store.delete(gone)
    assert not backend.store.exists(gone)
    assert list(backend.store.iter_digests()) == [keep]
    with pytest.raises(NotFoundError):
        backend.store.get_bytes(gone)
    backend.store.delete(gone)  # deleting an absent blob is a no-op
    assert backend.store.put_bytes(b"gone") == gone  # and it can be stored again
    assert backend.store.get_bytes(gone) == b"gone"


def test_quarantine_keeps_the_bytes_but_never_serves_them(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"suspicious")
    _tamper(backend, digest)
    backend.store.quarantine(digest)
    assert not backend.store.exists(digest)
    assert list(backend.store.iter_digests()) == []
    with pytest.raises(NotFoundError):
        backend.store.get_bytes(digest)
    kept = backend.read_raw(f"quarantine/{digest}")
    assert kept is not None
    assert kept[1:] == b"suspicious"[1:]
    backend.store.quarantine(digest)  # quarantining an absent blob is a no-op
    # Good content can be stored again under the same digest afterwards.
    assert backend.store.put_bytes(b"suspicious") == digest
    assert backend.store.get_bytes(digest) == b"suspicious"


def test_size(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"12345")
    assert backend.store.size(digest) == 5


# -- large files -------------------------------------------------------------------------------


_DOWNLOADER = """
import sys, tracemalloc
from pathlib import Path
from keel.artifacts import open_artifact_store
store = open_artifact_store(sys.argv[1], s3_endpoint_url=sys.argv[2] or None)
assert store.exists(sys.argv[3])  # the S3 client loads its service model here, not below
tracemalloc.start()
store.download(sys.argv[3], Path(sys.argv[4]))
print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.slow
def test_large_file_round_trips_in_bounded_memory(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    block = os.urandom(MB)
    with src.open("wb") as f:
        for i in range(20):
            f.write(bytes([i]) + block[1:])
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    digest, size = backend.store.put_file(src)
    assert (digest, size) == (expected, 20 * MB)
    assert backend.store.size(digest) == 20 * MB
    assert backend.store.get_bytes(digest) == src.read_bytes()
    # download() streams. Measured in a child process: moto's server runs in this one.
    dest = tmp_path / "copy.bin"
    endpoint = os.environ.get("KEEL_S3_ENDPOINT_URL", "") if backend.is_s3 else ""
    out = subprocess.run(
        [sys.executable, "-c", _DOWNLOADER, backend.store.uri, endpoint, digest, str(dest)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak = int(out.stdout)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == expected
    assert peak < 10 * MB, f"download peaked at {peak / MB:.1f} MB for a 20 MB blob"


# -- atomic writes ------------------------------------------------------------------------------


def test_concurrent_downloads_to_one_destination(backend: Backend, tmp_path: Path) -> None:
    # Regression: every download used the same temp name beside ``dest``, so two processes
    # fetching one model into a shared folder truncated each other's temp file.
    digest = backend.store.put_bytes(os.urandom(2 * MB))
    dest = tmp_path / "cache" / "model.bin"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def fetch() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                backend.store.download(digest, dest)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _sha(dest.read_bytes()) == digest
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.bin"]


def test_local_writes_go_through_root_tmp_and_leave_read_only_blobs(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "blobs")
    src = tmp_path / "f.bin"
    src.write_bytes(b"abc" * 1000)
    digest, _ = store.put_file(src)
    store.put_file(src)  # a duplicate is copied to a temp file, then dropped
    store.put_bytes(b"more")
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    blob = tmp_path / "blobs" / blob_key(digest)
    assert blob.is_file()
    assert not blob.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


_WRITER = """
import sys
from pathlib import Path
from keel.artifacts import LocalArtifactStore
LocalArtifactStore(sys.argv[1]).put_file(Path(sys.argv[2]))
print("finished")
"""


def test_a_writer_killed_mid_copy_leaves_no_blob(tmp_path: Path) -> None:
    """SIGKILL a process while it copies a file in: no blob appears, the store keeps working.

    The source is a FIFO, so the writer is still copying (blocked on the pipe) at the moment of
    the kill, deterministically: no sleep decides whether the copy is mid-way.
    """
    root = tmp_path / "blobs"
    fifo = tmp_path / "big.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    chunk = os.urandom(MB)
    sent = b""
    try:
        with fifo.open("wb") as pipe:
            for _ in range(3):
                pipe.write(chunk)
                sent += chunk
            pipe.flush()
            # Wait until the writer has put at least 1 MB into its temp file.
            deadline = time.monotonic() + 60
            while True:
                temps = list((root / "tmp").glob("upload-*")) if (root / "tmp").exists() else []
                if temps and temps[0].stat().st_size >= MB:
                    break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the writer never started copying"
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    except BrokenPipeError:
        pass  # the reader died while we were writing: expected
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = LocalArtifactStore(root)
    assert list(store.iter_digests()) == []
    assert not (root / "sha256").exists() or not any((root / "sha256").rglob("*.*"))
    # The store still works, including for the content the killed writer was copying.
    src = tmp_path / "complete.bin"
    src.write_bytes(sent)
    digest, size = store.put_file(src)
    assert (digest, size) == (_sha(sent), len(sent))
    assert store.get_bytes(digest) == sent
    assert list(store.iter_digests()) == [digest]


@pytest.mark.s3
@pytest.mark.timeout(60)
def test_s3_refuses_a_file_that_changes_while_it_is_uploaded(
    s3_bucket: str, tmp_path: Path
) -> None:
    """Regression: S3 put_file hashed the file, then uploaded a second read of it.

    If the file changed in between, the new bytes were stored under the old digest, and every
    later upload of the real content was skipped as a duplicate. A FIFO that yields different
    bytes on each open stands in for a file rewritten by another process.
    """
    backend = _s3_backend(s3_bucket, os.environ["KEEL_S3_ENDPOINT_URL"])
    fifo = tmp_path / "changing.fifo"
    os.mkfifo(fifo)

    def fds_on_fifo() -> int:
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                n += os.readlink(f"/proc/self/fd/{fd}") == str(fifo)
        return n

    def feed() -> None:
        # Each version goes to its own reader: open for writing once the previous reader is
        # gone, and write once the new reader's descriptor exists (a FIFO's open can return
        # to the writer before the reader's open has returned).
        for content in (b"version one", b"version two, longer"):
            while fds_on_fifo():
                time.sleep(0.001)
            with fifo.open("wb") as pipe:
                while fds_on_fifo() < 2:
                    time.sleep(0.001)
                pipe.write(content)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    with pytest.raises(IntegrityError, match="changed while it was being stored"):
        backend.store.put_file(fifo)
    feeder.join(timeout=30)
    assert backend.count_raw() == 0
    assert not backend.store.exists(_sha(b"version one"))
    assert not backend.store.exists(_sha(b"version two, longer"))


# -- opening stores, and failures of the storage itself ------------------------------------------


def test_open_artifact_store_chooses_the_backend_by_scheme(tmp_path: Path) -> None:
    plain = open_artifact_store(str(tmp_path / "a"))
    assert isinstance(plain, LocalArtifactStore)
    assert plain.uri == str(tmp_path / "a")
    from_url = open_artifact_store(f"file://{tmp_path / 'b'}")
    assert isinstance(from_url, LocalArtifactStore)
    assert from_url.uri == str(tmp_path / "b")
    with pytest.raises(
        InvalidArgumentError, match=r"'gs://bucket/x' has the unsupported scheme 'gs'\. Use a"
    ):
        open_artifact_store("gs://bucket/x")


@pytest.mark.s3
def test_s3_writes_to_a_missing_bucket_are_store_unavailable(
    s3_bucket: str, tmp_path: Path
) -> None:
    # Regression: s3fs reports a missing bucket as FileNotFoundError, which leaked out bare.
    endpoint = os.environ["KEEL_S3_ENDPOINT_URL"]
    store = open_artifact_store("s3://keel-no-such-bucket/x", s3_endpoint_url=endpoint)
    src = tmp_path / "f.bin"
    src.write_bytes(b"data")
    message = r"artifact store 's3://keel-no-such-bucket/x' failed: .*bucket does not exist"
    with pytest.raises(StoreUnavailableError, match=message):
        store.put_bytes(b"data")
    with pytest.raises(StoreUnavailableError, match=message):
        store.put_file(src)
    assert not store.exists(_sha(b"data"))
    assert list(store.iter_digests()) == []
