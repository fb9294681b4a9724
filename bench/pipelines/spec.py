"""What the pipelines benchmark runs, shared by both sides (stdlib only)."""

STEPS = 50  # steps in the measured pipeline: a chain of trivial `inc` steps
BASE_STEPS = 1  # the pipeline whose time is subtracted (fixed costs of a run)
REPS = 12  # timed runs of each size per side, after one warm-up run of each
