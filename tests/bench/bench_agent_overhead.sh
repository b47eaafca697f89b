#!/usr/bin/env bash
# Agent overhead on a file-heavy workload: bash tests/bench/bench_agent_overhead.sh build/bin
#
# Workload (in a temp dir on this machine's disk): create N small files (D directories of N/D
# files, ~40 bytes each, with bash builtins: no process per file), then `cp -r` the tree. Timed
# without an agent, then with a real vigil-agent enrolled against a real collector (started here
# on free ports) capturing
#   - the whole filesystem (fanotify filesystem marks; the collector's own data dir is excluded
#     through a pushed collection config, as it would live on another machine), and
#   - only the workload's dir (--watch),
# (the collector, standing in for a server elsewhere, runs as SCHED_IDLE: BENCH_COLLECTOR_WRAP),
# alternating baseline and agent runs so drift from other load hits both alike. Reported per
# mode: median wall time of the workload and its overhead against the baseline median, the
# agent's peak RSS (VmHWM) and its CPU seconds during the workload and until it went idle again
# (it may still be shipping events after the workload ends), and how many of the copy's
# file.create events reached the collector.
#
# Knobs: BENCH_OVERHEAD_FILES (100000), BENCH_OVERHEAD_DIRS (100), BENCH_OVERHEAD_RUNS (3),
# BENCH_OVERHEAD_MODES ("kernel whole watch"; "kernel" is the floor: a bare fanotify listener with the
# agent's mask while nothing removable is mounted (no read-only closes) and no agent,
# bench_fanotify_wakeups --listen; "kernel-reads" the same with read-only closes (the agent's mask while
# a stick or share is mounted), "kernel-notarget" without the entry's own handle in the records,
# "kernel-nocreate" without creations), BENCH_OVERHEAD_FS (loop: a fresh ext4 image for the
# workload, the default; host: the host's disk), BENCH_KEEP=1 keeps the temp dir, BENCH_AGENT_SET="key = value"
# adds a top-level setting to the agent's agent.toml (e.g. "capture_batch_ms = 0" for comparison),
# BENCH_AGENT_WRAP="nice -n 10" runs the agent under that command prefix, and BENCH_AGENT_ALT=DIR
# makes the modes "whole-alt" and "watch-alt" run DIR/vigil-agent instead (another build, for an
# A/B comparison within one run: BENCH_OVERHEAD_MODES="whole whole-alt"; BENCH_AGENT_ALT_WRAP is
# the alt modes' command prefix, and BENCH_AGENT_ALT defaults to this build's directory).
# Everything it starts is stopped, and its temp dir removed, on exit.
set -uo pipefail

BIN_ARG=${1:-build/bin}
[[ -d $BIN_ARG ]] || { echo "bench_agent_overhead: $BIN_ARG is not a directory" >&2; exit 2; }
BIN=$(cd "$BIN_ARG" && pwd)
for b in vigil-collector vigil-agent vigilctl; do
  [[ -x $BIN/$b ]] || { echo "bench_agent_overhead: $BIN/$b is missing (build first)" >&2; exit 2; }
done
FILES=${BENCH_OVERHEAD_FILES:-100000}
DIRS=${BENCH_OVERHEAD_DIRS:-100}
RUNS=${BENCH_OVERHEAD_RUNS:-3}
MODES=${BENCH_OVERHEAD_MODES:-kernel whole watch}
PER_DIR=$(( (FILES + DIRS - 1) / DIRS ))

if [[ $(id -u) != 0 ]]; then
  echo "bench_agent_overhead: SKIPPED: needs root (fanotify)" >&2
  exit 0
fi

WORK=$(mktemp -d /var/tmp/vigil-overhead-XXXXXX)
CDIR=$WORK/collector
PIDS=()

stop_pid() {  # SIGTERM, then SIGKILL after 20 s; only processes this script started
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  if [[ -n ${FS:-} ]] && mountpoint -q "$FS"; then umount "$FS" || umount -l "$FS"; fi
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench_agent_overhead: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "bench_agent_overhead: interrupted" >&2; exit 130' INT TERM
die() { echo "bench_agent_overhead: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# In use: any TCP socket on it, listening or not (a connection's local port cannot be bound either).
port_used() {
  if command -v ss >/dev/null; then [[ -n $(ss -Htan "sport = :$1" 2>/dev/null) ]]; else port_open "$1"; fi
}
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if [[ $p != "${1:-}" ]] && ! port_used "$p"; then echo "$p"; return 0; fi
  done
  return 1
}
wait_port() { for _ in $(seq 200); do port_open "$1" && return 0; sleep 0.1; done; return 1; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# median_ci: reads numbers, prints "median lo hi coverage": a distribution-free confidence interval
# for the median from order statistics (the binomial(n, 1/2) ranks with at most 2.5 % below lo and
# above hi); lo and hi are "-" for fewer than 6 values, which cannot give a 95 % interval.
median_ci() {
  sort -g | awk '{ v[NR] = $1 } END {
    n = NR; if (n == 0) { print "0 - - -"; exit }
    m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    c = 0; p = 1; k = 0
    for (i = 0; i <= n; i++) { if (i > 0) p = p * (n - i + 1) / i; if (c + p / 2 ^ n > 0.025) break; c += p / 2 ^ n; k = i + 1 }
    if (k == 0) print m, "-", "-", "-"; else printf "%s %s %s %.1f\n", m, v[k], v[n - k + 1], 100 * (1 - 2 * c)
  }'
}

# workload DIR: creates DIR/src (FILES files) then cp -r's it to DIR/dst; prints
# "create_s copy_s total_s cpu_s" (cpu_s: user+system of the workload itself, cp included: where
# its extra time goes, CPU of its own (the kernel's fsnotify work is charged to it) or waiting)
workload() {
  local d=$1 i j t0 t1 t2
  mkdir -p "$d/src"
  t0=$(now)
  for ((i = 0; i < DIRS; i++)); do
    mkdir "$d/src/d$i"
    for ((j = 0; j < PER_DIR && i * PER_DIR + j < FILES; j++)); do
      printf 'file %d/%d: small content for the benchmark\n' "$i" "$j" >"$d/src/d$i/f$j.txt"
    done
  done
  t1=$(now)
  cp -r "$d/src" "$d/dst"
  t2=$(now)
  # `times`: this (sub)shell's and its children's user and system time, as "XmY.YYYs" pairs.
  # Redirected, not piped: a pipe would run `times` in a new subshell with nothing to report.
  local cpu
  times >"$d/.times"
  cpu=$(tr ' ' '\n' <"$d/.times" | awk -F'[ms]' 'NF >= 2 { s += $1 * 60 + $2 } END { printf "%.2f", s }')
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v u="$cpu" 'BEGIN { printf "%.3f %.3f %.3f %s\n", b - a, c - b, c - a, u }'
}

# wait_idle PID: returns once the process used < 2 ticks of CPU in a second (or after 300 s)
wait_idle() {
  local pid=$1 a b
  for _ in $(seq 300); do
    a=$(cpu_ticks "$pid") || return
    sleep 1
    b=$(cpu_ticks "$pid") || return
    (( b - a < 2 )) && return
  done
}

echo "== agent overhead: $FILES files in $DIRS dirs created, then cp -r; $RUNS runs per mode ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
echo "host: $(nproc) CPUs, load average at start $(cut -d' ' -f1-3 /proc/loadavg), work dir $WORK ($(df -PT "$WORK" | awk 'NR==2 {print $2}'))"

"$BIN/vigil-collector" init --data-dir "$CDIR" >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; die "collector init failed"; }
INGEST_PORT=$(free_port) || die "no free port"
API_PORT=$(free_port "$INGEST_PORT") || die "no free port"
sed -i "s/127\.0\.0\.1:7443/127.0.0.1:$INGEST_PORT/; s/127\.0\.0\.1:8443/127.0.0.1:$API_PORT/" "$CDIR/collector.toml"
# The collector stands in for a server elsewhere, so its CPU is not the endpoint's cost: it runs as
# SCHED_IDLE, taking only CPU time the workload and the agent leave unused (on 2 CPUs its ingest
# threads, woken by every upload, would otherwise preempt the workload like any other process).
# BENCH_COLLECTOR_WRAP="" runs it as an ordinary process.
# shellcheck disable=SC2086  # a command prefix, split on purpose
${BENCH_COLLECTOR_WRAP-chrt --idle 0} "$BIN/vigil-collector" run --data-dir "$CDIR" >"$WORK/collector.log" 2>&1 &
CPID=$!
PIDS+=("$CPID")
wait_port "$INGEST_PORT" && wait_port "$API_PORT" || { tail -20 "$WORK/collector.log" >&2; die "collector did not start"; }
CTL=("$BIN/vigilctl" --server "https://127.0.0.1:$API_PORT" --ca "$CDIR/ca.pem" --token "$(cat "$CDIR/admin.token")")
TOKEN=$("${CTL[@]}" enroll-token create --uses 1 --ttl 1h --json | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
[[ -n $TOKEN ]] || die "no enrollment token"
ADIR=$WORK/agent
"$BIN/vigil-agent" enroll --server "127.0.0.1:$INGEST_PORT" --token "$TOKEN" --ca "$CDIR/ca.pem" --data-dir "$ADIR" \
  >"$WORK/enroll.log" 2>&1 || { cat "$WORK/enroll.log"; die "agent enroll failed"; }
if [[ -n ${BENCH_AGENT_SET:-} ]]; then
  sed -i "/^${BENCH_AGENT_SET%% *} = /d" "$ADIR/agent.toml"  # the default line, if any
  sed -i "/^flush_interval_ms = /a $BENCH_AGENT_SET" "$ADIR/agent.toml"
  grep -q "^$BENCH_AGENT_SET\$" "$ADIR/agent.toml" || die "BENCH_AGENT_SET: not applied to agent.toml"
fi
# The collector's database would be on another machine: keep its writes out of the capture.
printf '{"exclude_paths": ["%s"]}\n' "$CDIR" >"$WORK/collection.json"
"${CTL[@]}" config set "$WORK/collection.json" >/dev/null || die "config set failed"
DEVICE=$(sed -n 's/^device_id = "\(.*\)"/\1/p' "$ADIR/agent.toml")

# Each run's workload gets an ext4 of its own, made right before it (a sparse image on a loop
# device, inode tables written out by mkfs so no lazy-init thread works during the run), and
# unmounted after it (that unmount's writeback is not timed). So every run starts from the same
# state: a shared filesystem made later runs slower as it filled (baseline 8.9 -> 13.2 s), and
# ext4 avoids reusing inodes freed in the last minutes by scanning its inode tables
# (recently_deleted), which charged an earlier run's deletion to whichever run came next.
# Modes are rotated (run 1: baseline, whole, watch; run 2: whole, watch, baseline; ...) so no
# mode always runs first or right after another's writeback. BENCH_OVERHEAD_FS=host runs every
# workload in the temp dir on the host's disk instead.
FS=
IMG=$WORK/fs.img
if [[ ${BENCH_OVERHEAD_FS:-loop} == loop ]]; then
  FS=$WORK/fs
  mkdir -p "$FS"
  echo "workload filesystem: a fresh ext4 (loop device) per run"
fi
fresh_fs() {  # an empty ext4 mounted on $FS for the next run (a no-op with BENCH_OVERHEAD_FS=host)
  [[ -n $FS ]] || return 0
  drop_fs
  local inodes=$(( FILES * 2 + 4 * DIRS + 10000 ))
  truncate -s $(( FILES * 2 * 4096 / 1048576 + 1024 ))M "$IMG" &&
    mkfs.ext4 -q -F -N "$inodes" -E lazy_itable_init=0,lazy_journal_init=0 "$IMG" &&
    mount -o loop "$IMG" "$FS" ||
    die "cannot make the workload's ext4 (BENCH_OVERHEAD_FS=host runs on the host's disk instead)"
  sync
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}
drop_fs() {
  [[ -n $FS ]] || return 0
  if mountpoint -q "$FS"; then umount "$FS" || umount -l "$FS"; fi
  rm -f "$IMG"
}
WL=${FS:-$WORK}

declare -A WALL CREATE COPY HWM CPU_W CPU_T SEEN COLL WCPU PAIRED
read -r -a MODE_LIST <<<"base $MODES"
run=0
for ((r = 1; r <= RUNS; r++)); do
  for ((m = 0; m < ${#MODE_LIST[@]}; m++)); do
    mode=${MODE_LIST[(m + r - 1) % ${#MODE_LIST[@]}]}
    run=$((run + 1))
    fresh_fs
    d=$WL/w$run
    mkdir -p "$d"
    if [[ $mode == kernel* ]]; then
      # The floor: what the kernel's fanotify records cost the workload with no agent at all (a
      # bare listener with the agent's mask, pausing 20 ms per wakeup).
      [[ -x $BIN/bench_fanotify_wakeups ]] || die "mode kernel: $BIN/bench_fanotify_wakeups is missing (build it)"
      case $mode in
        kernel) lopts=(--no-reads) ;;
        kernel-reads) lopts=() ;;
        kernel-notarget) lopts=(--no-reads --no-target-fid) ;;
        kernel-nocreate) lopts=(--no-reads --no-create) ;;
        *) die "unknown mode $mode" ;;
      esac
      "$BIN/bench_fanotify_wakeups" --listen "$d" "${lopts[@]}" >>"$WORK/kernel.log" 2>&1 &
      lpid=$!
      PIDS+=("$lpid")
      sleep 0.5
      c0=$(cpu_ticks "$lpid")
      read -r c p t u < <(workload "$d")
      c1=$(cpu_ticks "$lpid")
      h=$(hwm_kb "$lpid")
      stop_pid "$lpid"
      cw=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
      WALL[$mode]+="$t "; CREATE[$mode]+="$c "; COPY[$mode]+="$p "; WCPU[$mode]+="$u "; CPU_W[$mode]+="$cw "; CPU_T[$mode]+="$cw "; HWM[$mode]+="${h:-0} "; SEEN[$mode]+="0 "; COLL[$mode]+="0 "
      echo "run $r $mode only:     create ${c}s, copy ${p}s, total ${t}s (workload CPU ${u}s); listener CPU ${cw}s"
      continue
    fi
    if [[ $mode == base ]]; then
      read -r c p t u < <(workload "$d")
      WALL[base]+="$t "; CREATE[base]+="$c "; COPY[base]+="$p "; WCPU[base]+="$u "
      echo "run $r baseline:        create ${c}s, copy ${p}s, total ${t}s (workload CPU ${u}s)"
      continue
    fi
    args=()
    [[ $mode == watch* ]] && args=(--watch "$d")
    agent_bin=$BIN/vigil-agent
    wrap=${BENCH_AGENT_WRAP:-}
    if [[ $mode == *-alt ]]; then
      agent_bin=${BENCH_AGENT_ALT:-$BIN}/vigil-agent
      [[ -x $agent_bin ]] || die "mode $mode: BENCH_AGENT_ALT must name a directory holding vigil-agent"
      wrap=${BENCH_AGENT_ALT_WRAP:-}
    fi
    # shellcheck disable=SC2086  # a command prefix, split on purpose
    $wrap "$agent_bin" run --data-dir "$ADIR" "${args[@]}" >>"$WORK/agent-$mode.log" 2>&1 &
    apid=$!
    PIDS+=("$apid")
    sleep 3
    wait_idle "$apid"
    kill -0 "$apid" 2>/dev/null || { tail -5 "$WORK/agent-$mode.log"; die "agent ($mode) exited"; }
    c0=$(cpu_ticks "$apid")
    k0=$(cpu_ticks "$CPID")
    read -r c p t u < <(workload "$d")
    c1=$(cpu_ticks "$apid")
    k1=$(cpu_ticks "$CPID")
    wait_idle "$apid"
    c2=$(cpu_ticks "$apid")
    h=$(hwm_kb "$apid")
    # How much of the copy reached the collector (the agent has gone idle: its spool is drained).
    seen=$("${CTL[@]}" events --device "$DEVICE" --type file.create --path "$d/dst/d*/f*" --limit 100000 --json 2>/dev/null | grep -c '"path"')
    stop_pid "$apid"
    cw=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
    ct=$(awk -v a="$c0" -v b="$c2" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
    kw=$(awk -v a="$k0" -v b="$k1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
    WALL[$mode]+="$t "; CREATE[$mode]+="$c "; COPY[$mode]+="$p "; HWM[$mode]+="$h "; CPU_W[$mode]+="$cw "; CPU_T[$mode]+="$ct "; SEEN[$mode]+="$seen "; COLL[$mode]+="$kw "; WCPU[$mode]+="$u "
    echo "run $r agent ($mode):$( [[ $mode == watch ]] && echo ' ' ) create ${c}s, copy ${p}s, total ${t}s (workload CPU ${u}s); agent CPU ${cw}s during, ${ct}s until idle; VmHWM $((h / 1024)) MB; collector CPU ${kw}s during; copy's file.create at the collector: $seen of $FILES"
  done
done

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
BASE=$(med "${WALL[base]}")
echo
echo "================================================================ agent overhead summary"
echo "workload: $FILES files created + cp -r ($DIRS dirs), medians of $RUNS runs; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-30s %8s %8s %8s %10s %9s %12s %12s %10s %14s %s\n' "mode" "create s" "copy s" "total s" "overhead" "wl CPU s" "agent RSS MB" "agent CPU s" "until idle" "collector CPU" "events at collector"
printf '%-30s %8s %8s %8s %10s %9s %12s %12s %10s %14s %s\n' "no agent" "$(med "${CREATE[base]}")" "$(med "${COPY[base]}")" "$BASE" "-" "$(med "${WCPU[base]}")" "-" "-" "-" "-" "-"
for mode in $MODES; do
  label=$([[ $mode == whole* ]] && echo "agent, whole filesystem" || echo "agent, --watch workload dir")
  [[ $mode == *-alt ]] && label="${label/agent/alt agent}"
  [[ $mode == kernel ]] && label="bare fanotify listener"
  [[ $mode == kernel-reads ]] && label="bare listener, + reads"
  [[ $mode == kernel-notarget ]] && label="bare listener, no target fid"
  [[ $mode == kernel-nocreate ]] && label="bare listener, no creates"
  T=$(med "${WALL[$mode]}")
  OV=$(awk -v t="$T" -v b="$BASE" 'BEGIN { printf "%+.1f%%", 100 * (t - b) / b }')
  # Per round, against that round's own baseline (the modes ran back to back): drift between
  # rounds cancels out. The median of those ratios is printed below the table.
  PAIRED[$mode]=$(paste -d' ' <(tr ' ' '\n' <<<"${WALL[$mode]}" | grep -v '^$') <(tr ' ' '\n' <<<"${WALL[base]}" | grep -v '^$') |
    awk '{ print 100 * ($1 - $2) / $2 }' | median_ci)
  HW=$(tr ' ' '\n' <<<"${HWM[$mode]}" | grep -v '^$' | sort -n | tail -1)
  printf '%-30s %8s %8s %8s %10s %9s %12s %12s %10s %14s %s\n' "$label" "$(med "${CREATE[$mode]}")" "$(med "${COPY[$mode]}")" "$T" "$OV" "$(med "${WCPU[$mode]}")" \
    "$(awk -v k="$HW" 'BEGIN { printf "%.1f", k / 1024 }')" "$(med "${CPU_W[$mode]}")" "$(med "${CPU_T[$mode]}")" "$(med "${COLL[$mode]}")" "$(med "${SEEN[$mode]}")/$FILES"
done
for mode in $MODES; do
  read -r pm plo phi pcov <<<"${PAIRED[$mode]}"
  ci="fewer than 6 rounds: no 95 % interval"
  [[ $plo != - ]] && ci=$(awk -v a="$plo" -v b="$phi" -v c="$pcov" 'BEGIN { printf "%+.1f%% .. %+.1f%% (%.1f %% confidence)", a, b, c }')
  printf 'per run total s, %s: %s(baseline %s); median of the per-round overheads %+.1f%%, interval %s\n' "$mode" "${WALL[$mode]}" "${WALL[base]% }" "$pm" "$ci"
done
echo "(agent RSS: the highest VmHWM of its runs; CPU: medians, agent CPU during the workload and until it was idle again,"
echo " collector CPU during the workload; wl CPU: the workload's own user+system time; events: median count of the"
echo " copy's files whose file.create reached the collector)"
