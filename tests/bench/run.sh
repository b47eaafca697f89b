#!/usr/bin/env bash
# Vigil benchmarks (`make bench`): bash tests/bench/run.sh build/bin
#
# Builds nothing. Starts a real collector on free ports in a temp dir, then runs
#   1. bench_ingest_load: many agents over real TLS into that collector (events/s, ack latency,
#      collector CPU and RSS; the device counters are verified through the API afterwards),
#   2. bench_spool: the agent's spool append rate,
#   3. bench_store: the collector's SQLite store (ingest and queries, synchronous FULL and NORMAL),
#   4. agent idle RSS: a real vigil-agent enrolled against the collector, watching an empty dir,
#      then the whole filesystem (fanotify; needs root),
#   5. agent overhead on a file-heavy workload (bench_agent_overhead.sh: 100k small files created
#      and copied, without and with a real agent; its own collector; BENCH_OVERHEAD=0 skips it),
#   6. bench_engine: the policy engine alone on one core (events/s, median of BENCH_ENGINE_RUNS),
# and prints a summary. Everything it started is stopped and its temp dirs removed on exit.
#
# Knobs (environment): BENCH_AGENTS (20), BENCH_SECONDS (20), BENCH_BATCH_EVENTS (1000),
# BENCH_WINDOW (4), BENCH_SPOOL_EVENTS (1000000), BENCH_STORE_EVENTS (2000000),
# BENCH_IDLE_SECONDS (10), BENCH_ENGINE_EVENTS (2000000), BENCH_ENGINE_RUNS (5), BENCH_KEEP=1 keeps
# the temp dir.
set -uo pipefail

BIN_ARG=${1:-build/bin}
if [[ ! -d $BIN_ARG ]]; then
  echo "run.sh: $BIN_ARG is not a directory (build first: make build)" >&2
  exit 2
fi
BIN=$(cd "$BIN_ARG" && pwd)
for b in vigil-collector vigil-agent vigilctl bench_ingest_load bench_spool bench_store bench_engine; do
  if [[ ! -x $BIN/$b ]]; then
    echo "run.sh: $BIN/$b is missing (build first: make build)" >&2
    exit 2
  fi
done

AGENTS=${BENCH_AGENTS:-20}
DURATION=${BENCH_SECONDS:-20}
BATCH_EVENTS=${BENCH_BATCH_EVENTS:-1000}
WINDOW=${BENCH_WINDOW:-4}
SPOOL_EVENTS=${BENCH_SPOOL_EVENTS:-1000000}
STORE_EVENTS=${BENCH_STORE_EVENTS:-2000000}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-10}
ENGINE_EVENTS=${BENCH_ENGINE_EVENTS:-2000000}
ENGINE_RUNS=${BENCH_ENGINE_RUNS:-5}

WORK=$(mktemp -d /tmp/vigil-bench-XXXXXX)
CDIR=$WORK/collector
PIDS=()

stop_pid() {  # SIGTERM, then SIGKILL after 10 s; only processes this script started
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done  # newest first
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    echo "run.sh: kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

die() {
  echo "run.sh: $*" >&2
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if [[ $p != "${1:-}" ]] && ! port_open "$p"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

wait_port() {
  for _ in $(seq 200); do
    port_open "$1" && return 0
    sleep 0.1
  done
  return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
mb() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }

echo "== Vigil benchmarks $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "temp dir: $WORK ($(df -PT "$WORK" | awk 'NR==2 {print $2}'))"
echo

# ---------------------------------------------------------------- collector
"$BIN/vigil-collector" init --data-dir "$CDIR" >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; die "collector init failed"; }
INGEST_PORT=$(free_port) || die "no free port"
API_PORT=$(free_port "$INGEST_PORT") || die "no free port"
sed -i "s/127\.0\.0\.1:7443/127.0.0.1:$INGEST_PORT/; s/127\.0\.0\.1:8443/127.0.0.1:$API_PORT/" "$CDIR/collector.toml"
"$BIN/vigil-collector" run --data-dir "$CDIR" >"$WORK/collector.log" 2>&1 &
CPID=$!
PIDS+=("$CPID")
if ! wait_port "$INGEST_PORT" || ! wait_port "$API_PORT"; then
  tail -20 "$WORK/collector.log" >&2
  die "collector did not start listening"
fi
echo "collector: pid $CPID, ingest 127.0.0.1:$INGEST_PORT, api https://127.0.0.1:$API_PORT, SQLite synchronous=${VIGIL_SQLITE_SYNC:-full}, $(awk -F'= *' '/io_threads/ {print $2}' "$CDIR/collector.toml") io threads"

CTL=("$BIN/vigilctl" --server "https://127.0.0.1:$API_PORT" --ca "$CDIR/ca.pem" --token "$(cat "$CDIR/admin.token")")
TOKEN_JSON=$("${CTL[@]}" enroll-token create --uses 1000 --ttl 1h --json) || die "enroll-token create failed"
TOKEN=$(sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p' <<<"$TOKEN_JSON")
[[ -n $TOKEN ]] || die "no token in: $TOKEN_JSON"

# ---------------------------------------------------------------- 1. ingest load
echo
echo "== 1. ingest load: $AGENTS agents x $DURATION s over TLS into the collector"
INGEST_CMD=("$BIN/bench_ingest_load" --server "127.0.0.1:$INGEST_PORT" --ca "$CDIR/ca.pem"
  --api "https://127.0.0.1:$API_PORT" --admin-token-file "$CDIR/admin.token" --token "$TOKEN"
  --agents "$AGENTS" --seconds "$DURATION" --batch-events "$BATCH_EVENTS" --window "$WINDOW"
  --collector-pid "$CPID")
echo "\$ ${INGEST_CMD[*]}"
"${INGEST_CMD[@]}" 2>&1 | tee "$WORK/ingest.out"
INGEST_RC=${PIPESTATUS[0]}
echo "exit status: $INGEST_RC"
echo "load average after ingest: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "collector database: $(du -sh "$CDIR" | cut -f1)"

# ---------------------------------------------------------------- 2. spool
echo
echo "== 2. agent spool append"
SPOOL_CMD=("$BIN/bench_spool" "$SPOOL_EVENTS" "$WORK")
echo "\$ ${SPOOL_CMD[*]}"
"${SPOOL_CMD[@]}" 2>&1 | tee "$WORK/spool.out"
SPOOL_RC=${PIPESTATUS[0]}
rm -f "$WORK"/spool.db*

# ---------------------------------------------------------------- 3. store
echo
echo "== 3. collector store (SQLite)"
mkdir -p "$WORK/store"
STORE_CMD=("$BIN/bench_store" --events "$STORE_EVENTS" --dir "$WORK/store")
echo "\$ ${STORE_CMD[*]}"
"${STORE_CMD[@]}" 2>&1 | tee "$WORK/store.out"
STORE_RC=${PIPESTATUS[0]}

# ---------------------------------------------------------------- 4. agent idle RSS
echo
echo "== 4. agent idle RSS (real vigil-agent enrolled against the collector, ${IDLE_SECONDS} s after start)"
ADIR=$WORK/agent
EMPTY=$WORK/watch-empty
mkdir -p "$EMPTY"
"$BIN/vigil-agent" enroll --server "127.0.0.1:$INGEST_PORT" --token "$TOKEN" --ca "$CDIR/ca.pem" --data-dir "$ADIR" \
  >"$WORK/agent-enroll.log" 2>&1 || { cat "$WORK/agent-enroll.log"; die "agent enroll failed"; }

# measure_agent LABEL [run args...]: sets M_RSS M_HWM (kB) and M_CPU (s); M_RSS=0 if it died
measure_agent() {
  local label=$1
  shift
  echo "\$ $BIN/vigil-agent run --data-dir $ADIR $*"
  "$BIN/vigil-agent" run --data-dir "$ADIR" "$@" >"$WORK/agent-$label.log" 2>&1 &
  local apid=$!
  PIDS+=("$apid")
  sleep "$IDLE_SECONDS"
  M_RSS=0 M_HWM=0 M_CPU=0
  if ! kill -0 "$apid" 2>/dev/null; then
    echo "agent ($label) exited early; its log:"
    tail -5 "$WORK/agent-$label.log"
    return
  fi
  M_RSS=$(rss_kb "$apid")
  M_HWM=$(hwm_kb "$apid")
  M_CPU=$(awk -v t="$(cpu_ticks "$apid")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  stop_pid "$apid"
  echo "agent ($label): VmRSS $(mb "$M_RSS") MB, VmHWM $(mb "$M_HWM") MB, CPU $M_CPU s in the first ${IDLE_SECONDS} s"
}

measure_agent "watch-empty-dir" --watch "$EMPTY"
W_RSS=$M_RSS
measure_agent "whole-filesystem"
F_RSS=$M_RSS
COLLECTOR_RSS_END=$(rss_kb "$CPID")

# ---------------------------------------------------------------- 5. agent overhead
OVERHEAD_RC=0
if [[ ${BENCH_OVERHEAD:-1} == 1 ]]; then
  echo
  echo "== 5. agent overhead on a file-heavy workload"
  OVERHEAD_CMD=(bash "$(dirname "${BASH_SOURCE[0]}")/bench_agent_overhead.sh" "$BIN")
  echo "\$ ${OVERHEAD_CMD[*]}"
  "${OVERHEAD_CMD[@]}" 2>&1 | tee "$WORK/overhead.out"
  OVERHEAD_RC=${PIPESTATUS[0]}
fi
# ---------------------------------------------------------------- 5. policy engine
echo
echo "== 6. policy engine alone (one core)"
ENGINE_CMD=("$BIN/bench_engine" "$ENGINE_EVENTS" "$ENGINE_RUNS")
echo "\$ ${ENGINE_CMD[*]}"
VIGIL_LOG=warn "${ENGINE_CMD[@]}" 2>&1 | tee "$WORK/engine.out"
ENGINE_RC=${PIPESTATUS[0]}

# ---------------------------------------------------------------- summary
field() { grep -m1 "^$1" "$2" 2>/dev/null | sed "s|^$1 *||"; }
EPS=$(field 'events/s:' "$WORK/ingest.out")
LAT=$(field 'ack latency ms:' "$WORK/ingest.out")
CRSS=$(field 'collector RSS MB:' "$WORK/ingest.out")
CCPU=$(field 'collector CPU:' "$WORK/ingest.out")
RQW=$(field 'collector run-queue wait:' "$WORK/ingest.out" | sed 's/ (.*//')
TCPU=$(field 'load tool CPU:' "$WORK/ingest.out" | sed 's/ (.*//')
VERIFIED=$(grep -m1 -E '^(verified|verify)' "$WORK/ingest.out")
ERRS=$(field 'errors:' "$WORK/ingest.out")
STORE_FULL=$(grep -m1 '^sync=full ingest:' "$WORK/store.out" | grep -o '[0-9]* events/s')
STORE_NORMAL=$(grep -m1 '^sync=normal ingest:' "$WORK/store.out" | grep -o '[0-9]* events/s')
ENGINE_EPS=$(grep -m1 '^engine events/s per core' "$WORK/engine.out" | sed 's/^engine events\/s per core (median CPU): *\([0-9]*\).*/\1/')
STORE_Q=$(grep -m1 '^sync=full query \[one user, last 30 days, limit 1000\]' "$WORK/store.out" | grep -o 'median [0-9.]* ms')

verdict() {  # value target higher|lower
  awk -v v="$1" -v t="$2" -v d="$3" 'BEGIN {
    if (v == "" || v == 0) { print "not measured"; exit }
    ok = (d == "higher") ? v >= t : v <= t
    pct = (d == "higher") ? 100 * (t - v) / t : 100 * (v - t) / t
    if (ok) print "met"; else printf "MISSED by %.0f%%\n", pct }'
}
EPS_NUM=${EPS:-0}
echo
echo "================================================================ summary"
echo "load average now:          $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; shared with everything else on this machine)"
echo "ingest, end to end:        ${EPS:-?} events/s  [target 100000: $(verdict "$EPS_NUM" 100000 higher)]"
echo "                           $AGENTS agents, $BATCH_EVENTS events/batch, window $WINDOW, TLS 1.2, SQLite synchronous=${VIGIL_SQLITE_SYNC:-full}"
echo "ack latency (ms):          ${LAT:-?}"
echo "collector CPU:             ${CCPU:-?}; waited ${RQW:-?} for a CPU"
echo "collector RSS (MB):        ${CRSS:-?}; after all runs $(mb "$COLLECTOR_RSS_END")"
echo "load tool CPU:             ${TCPU:-?}"
echo "ingest check:              ${VERIFIED:-no verification line}; ${ERRS:-?}"
echo "spool append (events/s):"
if [[ -s $WORK/spool.out ]]; then
  SPOOL_BEST=0
  while read -r line; do
    b=$(grep -o 'batch=[0-9]*' <<<"$line" | cut -d= -f2)
    c=$(grep -o 'checkpoint=[a-z-]*' <<<"$line" | cut -d= -f2)
    e=$(grep -o ' events_per_s=[0-9]*' <<<"$line" | cut -d= -f2)
    printf '                           batch %-5s checkpoint %-12s %8s events/s  [target 200000: %s]\n' "$b" "$c" "$e" "$(verdict "$e" 200000 higher)"
  done < <(grep '^batch=' "$WORK/spool.out")
fi
echo "store ingest (events/s):   synchronous=FULL ${STORE_FULL:-?}, NORMAL ${STORE_NORMAL:-?}; one user's last 30 days (1000 rows): ${STORE_Q:-?}"
echo "agent idle RSS (MB):       --watch empty dir $(mb "$W_RSS") [target 20: $(verdict "$(mb "$W_RSS")" 20 lower)], whole filesystem $(mb "$F_RSS") [target 20: $(verdict "$(mb "$F_RSS")" 20 lower)]"
if [[ -s $WORK/overhead.out ]]; then
  echo "agent overhead:"
  sed -n '/agent overhead summary/,$p' "$WORK/overhead.out" | tail -n +2 | sed 's/^/                           /'
fi
echo "exit codes:                ingest $INGEST_RC, spool $SPOOL_RC, store $STORE_RC, overhead $OVERHEAD_RC"
echo "policy engine (events/s):  ${ENGINE_EPS:-?} per core, median of $ENGINE_RUNS runs  [target 1000000: $(verdict "${ENGINE_EPS:-0}" 1000000 higher)]"
echo "exit codes:                ingest $INGEST_RC, spool $SPOOL_RC, store $STORE_RC, engine $ENGINE_RC"

RC=0
[[ $INGEST_RC == 0 ]] || RC=1
exit $RC
