#!/usr/bin/env bash
# The speed-up of evaluation workers (docs/distributed.md): one baseline of
# EVALS random plans on the committed demo, evaluated in-process on a study
# file, then with --workers on a PostgreSQL study served by 1, 2, 4, ...
# worker processes on this machine. Starts a PostgreSQL server of its own
# (Debian's postgresql package) in a temporary folder. Prints a table.
#
#   bench/workers.sh [EVALS] [WORKER COUNTS...]      # defaults: 64, 1 2 4
#
# CPU workers split the cores between them (--threads nproc/N, at least 1);
# the in-process run uses them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
evals=${1:-64}
shift || true
counts=("$@")
[[ ${#counts[@]} -gt 0 ]] || counts=(1 2 4)
bin=${HIPP_PRUNE:-build/app/cli/hipp-prune}
[[ -x $bin ]] || { echo "bench/workers.sh: build first ($bin is missing)" >&2; exit 2; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
[[ -x $pgbin/initdb ]] || { echo "bench/workers.sh: no PostgreSQL server (packaging/install-deps.sh installs it)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/hipp-bench-workers.XXXXXX)
as=()
if [[ $(id -u) == 0 ]]; then
  chown postgres "$tmp"
  as=(runuser -u postgres --)
fi
port=$((40000 + RANDOM % 20000))
"${as[@]}" "$pgbin/initdb" -D "$tmp/data" -U hipp --auth=trust -E UTF8 --no-sync >/dev/null
"${as[@]}" "$pgbin/pg_ctl" -D "$tmp/data" -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off" \
  -l "$tmp/server.log" -w start >/dev/null
pids=()
cleanup() {
  kill -INT "${pids[@]}" 2>/dev/null || true
  "${as[@]}" "$pgbin/pg_ctl" -D "$tmp/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
base="postgresql://hipp@127.0.0.1:$port/postgres"
work=$(mktemp -d /tmp/hipp-bench-workers-files.XXXXXX)
trap 'cleanup; rm -rf "$work"' EXIT
cache="$work/features"
cores=$(nproc)

echo "creating the study on data/demo (dense scores, image features)..." >&2
"$bin" study create --model data/demo/model --bench data/demo/bench --out "$work/base.sqlite" >/dev/null 2>"$work/create.log"
# One untimed evaluation fills the feature cache for the full runs.
"$bin" study copy "$work/base.sqlite" "$work/warm.sqlite" >/dev/null 2>&1
"$bin" baseline --study "$work/warm.sqlite" --method uniform --evals 1 --cache-dir "$cache" >/dev/null 2>&1

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
"$bin" study copy "$work/base.sqlite" "$work/local.sqlite" >/dev/null 2>&1
t0=$(now)
"$bin" --seed 1 baseline --study "$work/local.sqlite" --method random --evals "$evals" --cache-dir "$cache" \
  >"$work/local.out" 2>"$work/local.log"
local_s=$(calc "$(now) - $t0")
local_hv=$(grep -o 'hypervolume of all random trials [0-9.]*' "$work/local.out" | awk '{print $NF}')

printf '\n%-34s %8s %10s %9s %12s\n' "evaluation ($evals random plans)" "seconds" "plans/s" "speed-up" "hypervolume"
printf '%-34s %8.1f %10.2f %9.2f %12s\n' "in-process ($cores threads)" "$local_s" "$(calc "$evals / $local_s")" 1 "$local_hv"
for n in "${counts[@]}"; do
  url="$base?study=w$n"
  "$bin" study copy "$work/base.sqlite" "$url" >/dev/null 2>&1
  threads=$((cores / n))
  ((threads > 0)) || threads=1
  pids=()
  for ((k = 0; k < n; k++)); do
    "$bin" --threads "$threads" worker --study "$url" --cache-dir "$cache" >"$work/w$n-$k.log" 2>&1 &
    pids+=($!)
  done
  # The workers load the model before the clock starts, as long-running workers would have.
  until [[ $(grep -l "waiting for plans" "$work"/w$n-*.log 2>/dev/null | wc -l) -ge $n ]]; do sleep 0.2; done
  t0=$(now)
  "$bin" --seed 1 baseline --study "$url" --workers --method random --evals "$evals" --cache-dir "$cache" \
    >"$work/w$n.out" 2>"$work/w$n.log"
  s=$(calc "$(now) - $t0")
  kill -INT "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  hv=$(grep -o 'hypervolume of all random trials [0-9.]*' "$work/w$n.out" | awk '{print $NF}')
  printf '%-34s %8.1f %10.2f %9.2f %12s\n' "$n worker(s) x $threads thread(s)" "$s" "$(calc "$evals / $s")" \
    "$(calc "$local_s / $s")" "$hv"
done
echo
echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
