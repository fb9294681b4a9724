"""Run one firing of a schedule: ``python -m keel.pipelines._launch SCHEDULE_ID``.

Started by ``keel agent`` in the schedule's working folder. Exits 0 when the run finished,
1 when it failed, 2 when it could not start.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("keel.agent")


def main(argv: list[str]) -> int:
    """Run the schedule named by ``argv[0]``; return the exit code."""
    from keel.errors import KeelError
    from keel.pipelines._loader import load_pipeline
    from keel.pipelines._runner import RunOptions
    from keel.store._pipelines import PipelineRepository
    from keel.tracking import get_client

    if len(argv) != 1:
        print("usage: python -m keel.pipelines._launch SCHEDULE_ID", file=sys.stderr)
        return 2
    repo = PipelineRepository(get_client().store)
    record = repo.get_schedule(argv[0])
    try:
        if record.working_dir and os.path.isdir(record.working_dir):
            os.chdir(record.working_dir)
        pipeline = load_pipeline(record.target, record.working_dir)
        run = pipeline._run(
            dict(record.params),
            RunOptions(
                executor=record.executor,
                experiment=pipeline.experiment or pipeline.name,
                schedule_id=record.id,
                target=record.target,
                tags={"keel.schedule_name": record.name},
            ),
        )
    except KeelError as exc:
        print(f"Schedule {record.name!r} could not run: {exc.message}", file=sys.stderr)
        repo.record_schedule_result(record.id, None, "FAILED")
        return 2
    repo.record_schedule_result(record.id, run.id, run.status)
    if run.status != "FINISHED":
        print(f"Schedule {record.name!r}: run {run.id} {run.status}: {run.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main(sys.argv[1:]))
