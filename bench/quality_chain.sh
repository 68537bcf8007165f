#!/bin/sh
# The issue-14 benchmark chain (resumable: every step skips finished trainings).
# Usage: nice -n 5 sh bench/quality_chain.sh WORK > WORK/chain.log 2>&1 &
# Order, for a shared machine where one training takes 4-8 minutes: tuning,
# then the main comparison first (none and cfm, 2 KG-full seeds), rfm, the
# 10% KG folder, leave-last-out, then the remaining KG-full seeds.
set -e
WORK=${1:-output/bench}
PY=${PYTHON:-/work/main/.venv/bin/python}
$PY bench/quality.py tune --work "$WORK" --data kg_full --variants none cfm
$PY bench/quality.py run --work "$WORK" --data kg_full --variants none cfm --seeds 0 1
$PY bench/quality.py run --work "$WORK" --data kg_full --variants rfm --seeds 0 1
$PY bench/quality.py run --work "$WORK" --data kg_p10 --variants none cfm --seeds 0 1 2 3 4
$PY bench/quality.py run --work "$WORK" --data llo_full --variants default --seeds 0 1 2
$PY bench/quality.py run --work "$WORK" --data kg_full --variants none cfm rfm --seeds 0 1 2 3 4
