#!/usr/bin/env bash
# Starts workers on several machines over plain ssh: on each HOST, one worker
# per GPU it has (nvidia-smi -L), all serving one PostgreSQL study that every
# host can reach. hipp-prune must be installed on each host (the .deb of
# packaging/, or a build at the same path), with the study's model and
# benchmark at the paths given by --model/--bench (or where the study was
# created). Ctrl-C here closes the connections, which hangs the remote
# workers up; the plan each one held goes back to the queue when its lease
# runs out (30 s by default), so nothing is lost.
#
#   scripts/cluster/ssh-workers.sh 'postgresql://me@db:5432/hipp?study=llava7b' gpu1 gpu2 -- \
#       --model /data/llava-1.5-7b --bench /data/bench --cache-dir /scratch/hipp-features
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 STUDY_URL HOST... [-- worker options...]" >&2
  exit 2
fi
url=$1
shift
hosts=()
while [[ $# -gt 0 && $1 != -- ]]; do
  hosts+=("$1")
  shift
done
[[ ${1:-} == -- ]] && shift
options=$(printf ' %q' "$@")
pids=()
trap 'kill -INT "${pids[@]}" 2>/dev/null || true' INT TERM
for host in "${hosts[@]}"; do
  # -tt: the remote workers end with the connection.
  ssh -tt "$host" "bash -lc $(printf '%q' "
    n=\$(nvidia-smi -L 2>/dev/null | wc -l); [ \"\$n\" -gt 0 ] || n=1
    dev=cuda; command -v nvidia-smi >/dev/null || dev=cpu
    for k in \$(seq 0 \$((n - 1))); do
      d=\$dev; [ \$dev = cuda ] && d=cuda:\$k
      hipp-prune --device \$d worker --study $(printf '%q' "$url")$options > hipp-worker-\$k.log 2>&1 &
    done
    wait")" &
  pids+=($!)
  echo "$host: workers started (logs hipp-worker-K.log in the remote home folder)"
done
wait
