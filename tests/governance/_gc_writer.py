"""A writer process for the garbage-collection stress test.

Logs runs whose artifacts share content with other writers' runs, registers datasets whose
content repeats, stores orphan blobs (garbage) and soft-deletes some of its runs, so the
collector running at the same time keeps finding garbage next to live, just-written blobs. It
also *resurrects* garbage: it logs content it stored as garbage seconds ago (old enough for the
collector to pick), which is the race that the refresh on ``exists``/``put`` must win.
Prints one JSON line: the runs it kept and the dataset versions it registered.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    writer, iterations, work = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    resurrect_after = float(sys.argv[4])
    if os.environ.get("KEEL_TEST_REFRESH_AFTER"):
        from keel.artifacts import FsspecArtifactStore

        # The collector's grace period is seconds in this test: refresh S3 blobs as eagerly.
        FsspecArtifactStore.refresh_after = float(os.environ["KEEL_TEST_REFRESH_AFTER"])
    import pandas as pd

    import keel
    from keel.store._gc import GcRepository
    from keel.tracking import get_client

    client = get_client()
    repo = GcRepository(client.store)
    folder = work / f"w{writer}"
    folder.mkdir(parents=True, exist_ok=True)
    kept: list[str] = []
    datasets: list[str] = []
    garbage: list[tuple[float, bytes]] = []
    for i in range(iterations):
        old = [g for g in garbage if time.time() - g[0] > resurrect_after][:3]
        garbage = [g for g in garbage if g not in old]
        shared = folder / "shared.bin"
        shared.write_bytes(f"shared content {i % 4}\n".encode() * 200)
        unique = folder / "unique.bin"
        unique.write_bytes(f"writer {writer} iteration {i}\n".encode() * 50)
        with keel.start_run(f"w{writer}-{i}", experiment="stress") as run:
            keel.log_artifact(str(shared))
            keel.log_artifact(str(unique))
            for k, (_, content) in enumerate(old):
                back = folder / f"back{k}.bin"
                back.write_bytes(content)
                keel.log_artifact(str(back))
        for k in range(5):
            content = f"garbage {writer} {i} {k}\n".encode() * 20
            client.artifacts.put_bytes(content)
            garbage.append((time.time(), content))
        if i % 3 == 1 and not old:
            repo.delete_run(run.id)  # purged by the collector: its blobs become garbage
        else:
            kept.append(run.id)
        if i % 4 == 0:
            data = folder / "d.parquet"
            pd.DataFrame({"x": range(10 + i % 2)}).to_parquet(data)
            version = keel.datasets.register(f"stress{writer % 2}", str(data))
            datasets.append(version.ref)
    print(json.dumps({"kept": kept, "datasets": datasets}))


if __name__ == "__main__":
    main()
