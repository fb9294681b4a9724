#!/usr/bin/env bash
# The keel commands both CI templates run (and tests/examples/test_ci.py runs too).
#   bash ci.sh pr      validate the data, run the training pipeline, compare with the champion
#   bash ci.sh merge   promote the challenger to champion; the model's gates decide
# Keel's stores come from the environment (KEEL_STORE_URI, KEEL_ARTIFACT_URI, ...): in CI a
# shared PostgreSQL and S3 bucket, so the champion outlives the job.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${KEEL_CI_OUT:-keel-ci}"
MODEL=churn-model
export COLUMNS="${COLUMNS:-120}"   # Rich tables at a readable width in CI logs and the comment
mkdir -p "$OUT"

challenger() {
    python -c "import keel; print(keel.models.get_version_by_alias('$MODEL', 'challenger').version)"
}

case "${1:-}" in
pr)
    # 1. Data: register this commit's data as a new version (same bytes: same version) and
    #    validate it; a failing check of severity error fails the job.
    python "$HERE/make_data.py" "$OUT/churn.csv" "${KEEL_CI_SEED:-7}"
    keel data register churn "$OUT/churn.csv" --description "CI ${GITHUB_SHA:-${CI_COMMIT_SHA:-local}}"
    keel data validate churn@latest --suite "$HERE/suite.yaml" --report "$OUT/validation.html"
    # 2. Train: the pipeline registers a version behind its gates, aliased 'challenger'.
    #    Pass the exact version so the job log names it (the step cache pins "churn@latest"
    #    to the version it names either way).
    data="$(python -c "import keel; print(keel.datasets.get('churn@latest').ref)")"
    keel pipeline run "$HERE/train.py:training" --param "data=$data"
    # 3. Compare the challenger with the champion: evaluate the gates without moving anything.
    version="$(challenger)"
    {
        echo "### Keel: churn-model v$version vs champion"
        echo '```'
        keel models check "$MODEL" "$version" --to champion && status=pass || status=fail
        echo '```'
        echo "Gates: $status"
    } | tee "$OUT/comparison.md"
    ;;
merge)
    # 4. Register behind the gates: promote the challenger; a failing gate fails the job.
    version="$(challenger)"
    keel models promote "$MODEL" "$version" --to champion \
        --reason "merged ${GITHUB_SHA:-${CI_COMMIT_SHA:-local}}"
    keel models show "$MODEL"
    ;;
*)
    echo "usage: ci.sh pr|merge" >&2
    exit 2
    ;;
esac
