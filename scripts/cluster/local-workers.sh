#!/usr/bin/env bash
# Starts N workers on this machine, one per GPU (cuda:0 .. cuda:N-1), or N
# CPU workers with --cpu, all serving one PostgreSQL study; waits for them
# and stops them all on Ctrl-C. Logs go to worker-K.log in the current folder.
#
#   scripts/cluster/local-workers.sh 'postgresql://me@db:5432/hipp?study=llava7b' 8
#   scripts/cluster/local-workers.sh 'postgresql://me@db:5432/hipp?study=demo' 2 --cpu
#
# Extra arguments after N go to every worker (e.g. --cache-dir DIR, --max-evals 100).
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 STUDY_URL N [--cpu] [worker options...]" >&2
  exit 2
fi
url=$1
count=$2
shift 2
cpu=0
if [[ ${1:-} == --cpu ]]; then
  cpu=1
  shift
fi
if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: N must be a positive number, not '$count'" >&2
  exit 2
fi
bin=${HIPP_PRUNE:-$(command -v hipp-prune || echo "$(dirname "$0")/../../build/app/cli/hipp-prune")}
if [[ ! -x $bin ]]; then
  echo "$0: no hipp-prune program (build it, or set HIPP_PRUNE=/path/to/hipp-prune)" >&2
  exit 2
fi
pids=()
stop() {
  # Ctrl-C: every worker gives its claim back to the queue and exits.
  kill -INT "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM
for ((k = 0; k < count; k++)); do
  if ((cpu)); then
    # CPU workers share the cores: each gets its share of the threads.
    threads=$(($(nproc) / count))
    ((threads > 0)) || threads=1
    "$bin" --threads "$threads" worker --study "$url" "$@" >"worker-$k.log" 2>&1 &
  else
    "$bin" --device "cuda:$k" --dtype bf16 worker --study "$url" "$@" >"worker-$k.log" 2>&1 &
  fi
  pids+=($!)
  echo "worker $k: process $!, log worker-$k.log"
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit "$status"
