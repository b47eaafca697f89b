# Sourced by the booted-systemd packaging tests (systemd_boot.sh, rpm_install.sh): boots the
# cached Debian root (tests/packaging/test_root.sh) with systemd as PID 1 in a container of its
# own, runs commands in it, and halts it. The root is booted with --volatile=overlay: every run
# starts from the same pristine root and leaves nothing in it.
#
# The caller sets T (a scratch directory) and NSPAWN_TEST (its name); this file provides:
#   skip MSG / fail MSG       exit 77 loudly / exit 1 with the container's journal
#   nspawn_preflight ROOT     skip (77, loudly) unless everything a boot needs is here
#   nspawn_boot ROOT NAME [nspawn options...]   boot; returns when systemd reports the boot done
#   ct CMD...                 run CMD in the booted container (its namespaces, a clean env)
#   ct_env VAR=V... -- CMD... the same with extra environment
#   nspawn_halt               power the container off (graceful, then forced)
# The container gets a private network (its own loopback: its ports never meet the host's).
# The agent's system calls are allowed by the container (see nspawn_boot).

NSPAWN_PID=""
CT_LEADER=""

# The test scripts' exits: 77 (skipped, loudly) and 1 with the container's journal when it runs.
skip() {
  printf '\n######## SKIPPED: %s: %s ########\n\n' "${NSPAWN_TEST:-packaging test}" "$*" >&2
  exit 77
}
fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  if [ -n "${CT_LEADER:-}" ] && kill -0 "${NSPAWN_PID:-0}" 2>/dev/null; then
    echo "--- journal (last 60 lines)" >&2
    ct journalctl --no-pager -n 60 >&2 2>/dev/null || true
  fi
  exit 1
}

nspawn_preflight() {
  local root=$1 tool
  [ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn)"
  for tool in systemd-nspawn nsenter flock python3; do
    command -v "$tool" >/dev/null || skip "$tool is not available (scripts/bootstrap.sh installs systemd-container, util-linux)"
  done
  bash "$(dirname "${BASH_SOURCE[0]}")/test_root.sh" check "$root" \
    || skip "no cached Debian root at $root: 'make systemd-root' makes it (debootstrap, ~3 min, needs the Debian archive)"
}

nspawn_boot() {
  local root=$1 name=$2 i state
  shift 2
  # Shared lock: test_root.sh (exclusive) never changes the root under a booted container.
  exec 8>"$root.lock"
  flock -s 8
  # nspawn's own seccomp filter refuses fanotify_init, fanotify_mark and open_by_handle_at to
  # everything in the container (open_by_handle_at is the classic container escape); the agent's
  # capture needs all three. Allowing them at the container's level leaves the unit's
  # SystemCallFilter= as the filter under test, as on a host.
  systemd-nspawn -q -D "$root" -M "$name" -b --volatile=overlay --register=no --keep-unit \
    --private-network --console=pipe --system-call-filter="fanotify_init fanotify_mark open_by_handle_at" \
    "$@" </dev/null >"$T/boot.log" 2>&1 &
  NSPAWN_PID=$!
  for i in $(seq 1 100); do
    CT_LEADER=$( (ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null || true) | tr -d ' ' | head -n1)
    [ -n "$CT_LEADER" ] && [ "$(cat "/proc/$CT_LEADER/comm" 2>/dev/null)" = systemd ] && break
    CT_LEADER=""
    kill -0 "$NSPAWN_PID" 2>/dev/null || fail "systemd-nspawn exited: $(cat "$T/boot.log")"
    sleep 0.1
  done
  [ -n "$CT_LEADER" ] || fail "no systemd came up in the container: $(cat "$T/boot.log")"
  # is-system-running --wait returns once the boot job queue is empty; before systemd has made
  # its private socket it fails at once and prints nothing, so ask again.
  state=""
  for i in $(seq 1 900); do
    state=$(timeout 90 nsenter -t "$CT_LEADER" -a systemctl is-system-running --wait 2>/dev/null || true)
    case $state in ""|offline|unknown) sleep 0.1 ;; *) break ;; esac
  done
  case $state in
    running) ;;
    degraded) printf 'container booted degraded; failed units:\n%s\n' "$(ct systemctl --failed --no-legend --plain)" ;;
    *) fail "the container's systemd did not finish booting (state '$state'): $(cat "$T/boot.log")" ;;
  esac
}

ct() {
  nsenter -t "$CT_LEADER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"
}

ct_env() {
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  nsenter -t "$CT_LEADER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "${vars[@]}" "$@"
}

nspawn_halt() {
  local i
  [ -n "$NSPAWN_PID" ] || return 0
  kill -0 "$NSPAWN_PID" 2>/dev/null || { NSPAWN_PID=""; return 0; }
  kill -TERM "$NSPAWN_PID" 2>/dev/null || true  # nspawn asks the container's systemd to power off
  for i in $(seq 1 300); do
    kill -0 "$NSPAWN_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    kill -TERM "$NSPAWN_PID" 2>/dev/null || true  # a second SIGTERM: immediate termination
    sleep 2
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
  fi
  wait "$NSPAWN_PID" 2>/dev/null || true
  NSPAWN_PID=""
}

# ct_wait_port PORT: something listens on the container's 127.0.0.1:PORT (10 s).
ct_wait_port() {
  local i
  for i in $(seq 1 100); do
    ct bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ct_wait_active UNIT: the unit reaches "active" (30 s; a first start of the collector makes its CA).
ct_wait_active() {
  local i s
  for i in $(seq 1 300); do
    s=$(ct systemctl is-active "$1" 2>/dev/null || true)
    [ "$s" = active ] && return 0
    [ "$s" = failed ] && return 1
    sleep 0.1
  done
  return 1
}

# ct_stays_active UNIT: active, and still the same process 2 s later with no restart (a Type=exec
# unit is "active" from the exec on, also when the program fails its start-up a moment later).
ct_stays_active() {
  local pid
  ct_wait_active "$1" || return 1
  pid=$(ct_prop "$1" MainPID)
  sleep 2
  [ "$(ct systemctl is-active "$1" 2>/dev/null || true)" = active ] && [ "$(ct_prop "$1" MainPID)" = "$pid" ] \
    && [ "$(ct_prop "$1" NRestarts)" = 0 ]
}

# ct_prop UNIT PROP: one property as `systemctl show` prints its value.
ct_prop() { ct systemctl show -p "$2" --value "$1"; }

# ct_status PID FIELD: a field of the container's /proc/PID/status.
ct_status() { ct awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status"; }
