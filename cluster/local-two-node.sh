#!/usr/bin/env bash
# A two-node Ray cluster on this machine, on loopback: a head and one worker node (`ray start`),
# the search submitted with `ray job submit --working-dir .`, the Pareto front read back, the
# nodes stopped. A stand-in for `ray up cluster/aws-gpu.yaml` that needs no cloud.
#
#   bash cluster/local-two-node.sh [extra flags for python -m raysearch.tune scpo]
#
# Both nodes get one CPU and every trial two workers of one CPU (a Ray Train DDP run), so every trial
# spans both nodes. The Optuna study goes to an RDB URL (a journal file on one node's disk is
# refused on a multi-node cluster). At exit only the
# two nodes started here are stopped (`python -m raysearch.ray_env stop` on their temp dirs): other
# Ray processes on this machine are left alone, unlike `ray stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"   # the same for `ray start` and `ray job submit`
export RAY_USAGE_STATS_ENABLED=0
OUT="$(realpath -m "${OUT:-runs/cluster-demo}")"
NAME="${NAME:-scpo}"
GCS_PORT="${GCS_PORT:-6390}"
DASH_PORT="${DASH_PORT:-8266}"
RAY_TMP="${RAY_TMP:-/tmp/rs-2node}"
PY="${PYTHON:-python}"
RAY="${RAY_BIN:-ray}"
OPTUNA="${OPTUNA_STORAGE:-sqlite:///$OUT/$NAME-study.db}"
mkdir -p "$OUT"
# two nodes on one machine need their own agent ports (Ray's defaults would collide)
read -r AGENT1 AGENT2 METRICS1 METRICS2 RTENV1 RTENV2 < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')

trap '"$PY" -m raysearch.ray_env stop "$RAY_TMP" "$RAY_TMP-w" >/dev/null 2>&1 || true' EXIT
"$RAY" start --head --node-ip-address=127.0.0.1 --port="$GCS_PORT" --dashboard-host=127.0.0.1 \
  --dashboard-port="$DASH_PORT" --num-cpus=1 --object-store-memory=400000000 \
  --dashboard-agent-listen-port="$AGENT1" --metrics-export-port="$METRICS1" --runtime-env-agent-port="$RTENV1" \
  --temp-dir="$RAY_TMP" --disable-usage-stats
"$RAY" start --address="127.0.0.1:$GCS_PORT" --node-ip-address=127.0.0.1 --num-cpus=1 \
  --dashboard-agent-listen-port="$AGENT2" --metrics-export-port="$METRICS2" --runtime-env-agent-port="$RTENV2" \
  --object-store-memory=400000000 --disable-usage-stats --temp-dir="$RAY_TMP-w"  # its own runtime-env files
ADDR="http://127.0.0.1:$DASH_PORT"
JOB="raysearch-$NAME-$(date +%s)"
for try in $(seq 60); do   # the head's job agent needs a few seconds after `ray start`
  if msg=$("$RAY" job submit --address "$ADDR" --submission-id "$JOB" --no-wait --working-dir . -- \
      python -m raysearch.tune scpo --out "$OUT" --name "$NAME" --optuna-storage "$OPTUNA" --workers 2 --cpus-per-worker 1 "$@" 2>&1); then
    break
  fi
  grep -q "No available agent" <<<"$msg" || { echo "$msg" >&2; exit 1; }
  sleep 2
done
"$RAY" job logs --address "$ADDR" --follow "$JOB"
status=$("$RAY" job status --address "$ADDR" "$JOB" 2>&1)
grep -qi "succeeded" <<<"$status" || { echo "$status"; echo "job $JOB did not succeed" >&2; exit 1; }

"$PY" - "$OPTUNA" "$NAME" <<'PY'
import sys

from raysearch.tune.study import read_front

front = read_front(sys.argv[1], sys.argv[2])
nodes = sorted({n for p in front.points + front.dominated for n in str(p.extra.get("ray/nodes", "")).split(",") if n})
print(f"front: {len(front.points)} Pareto trials of {front.n_trials}, hypervolume {front.hypervolume:.4f}")
print(f"trials ran on {len(nodes)} node(s): {', '.join(n[:12] for n in nodes)}")
PY
