#!/usr/bin/env bash
# Packaging lifecycle (CTest label `packaging`): builds the real vigil-collector and vigil-agent
# .debs with cpack (twice: the build's version and a bumped one), installs them on this machine
# with dpkg, runs the installed /usr/bin binaries against each other, and checks:
#   - the installed units (paths, hardening, `systemd-analyze verify`) and the enable symlinks;
#   - install without enrollment settings: installed, not enrolled, told how;
#   - enrollment at install from /etc/vigil/enroll.env and from the environment;
#   - an upgrade keeps the identity, the spool (an event spooled before it arrives after it),
#     the administrator's conffile changes and the collector's data;
#   - remove keeps data and conffiles; purge deletes them.
# Where systemd runs (booted host) the maintainer scripts start the units and the test drives
# them with systemctl; otherwise (containers) the test runs the installed binaries itself with
# the units' arguments, user, capability bounding set and no_new_privs (setpriv), and checks
# that capture lost nothing to them (no EPERM in the agent's log; the program of another user's
# process is still known, which needs CAP_SYS_PTRACE).
# Exit 77 (skipped, loudly) without root, dpkg, cpack, or systemd's tools, or when a vigil
# package is already installed here (never clobber a real installation).
set -euo pipefail
# Pipes end in `grep ... >/dev/null`, not `grep -q`: -q stops reading, and the writer's SIGPIPE
# would fail the pipeline under pipefail.
BUILD=$(cd "${1:?usage: deb_lifecycle.sh BUILD_DIR}" && pwd)

skip() {
  printf '\n######## SKIPPED packaging test: %s ########\n\n' "$*" >&2
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root to install packages"
for tool in dpkg dpkg-deb dpkg-shlibdeps cpack systemd-analyze python3 setpriv; do
  command -v "$tool" >/dev/null || skip "$tool is not available"
done
[ -x /usr/bin/deb-systemd-helper ] || skip "deb-systemd-helper (init-system-helpers) is not available"
for p in vigil-agent vigil-collector; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -v "not-installed" >/dev/null; then
    skip "$p is already installed on this machine; not touching it"
  fi
done
BOOTED=0
[ -d /run/systemd/system ] && BOOTED=1

T=$(mktemp -d /tmp/vigil-pkgtest.XXXXXX)
chmod 755 "$T"
PIDS=()
CREATED_USER=0
getent passwd vigil >/dev/null || CREATED_USER=1
step() { printf '\n== [%3ss] %s\n' "$SECONDS" "$*"; }
fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  exit 1
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  dpkg_retry -P vigil-agent vigil-collector >/dev/null 2>&1 || true
  [ "$CREATED_USER" = 1 ] && getent passwd vigil >/dev/null && userdel vigil 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# dpkg takes a machine-wide lock; another apt on this machine must not fail the test.
dpkg_retry() {
  local i out rc
  for i in $(seq 1 120); do
    rc=0
    out=$(dpkg "$@" </dev/null 2>&1) || rc=$?
    if [ $rc -ne 0 ] && grep -q "lock" <<<"$out" && grep -q "held by\|Resource temporarily\|locked" <<<"$out"; then
      sleep 1
      continue
    fi
    printf '%s\n' "$out"
    return $rc
  done
  printf '%s\n' "$out"
  return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  local i
  for i in $(seq 1 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
status_of() { dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null || true; }

# --- build the packages -------------------------------------------------------------------
step "cpack: the build's packages and an upgrade with a bumped version"
V1=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
[ -n "$V1" ] || fail "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"
V2="$V1+upgradetest1"
CPACK_PIDS=()
for v in v1 v2; do  # both at once: each is mostly waiting on strip, dpkg-shlibdeps and compression
  ver=$V1; [ $v = v2 ] && ver=$V2
  mkdir -p "$T/$v"
  cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$T/$v" -D CPACK_OUTPUT_FILE_PREFIX="$T/$v" \
        -D CPACK_PACKAGE_VERSION="$ver" >"$T/cpack-$v.log" 2>&1 &
  CPACK_PIDS+=($!)
done
for pid in "${CPACK_PIDS[@]}"; do wait "$pid" || fail "cpack (logs: $T/cpack-v1.log, $T/cpack-v2.log)"; done
AGENT1=$(ls "$T"/v1/vigil-agent_*.deb); AGENT2=$(ls "$T"/v2/vigil-agent_*.deb)
COLL1=$(ls "$T"/v1/vigil-collector_*.deb); COLL2=$(ls "$T"/v2/vigil-collector_*.deb)
dpkg-deb -f "$AGENT1" Depends | grep "libuv1" >/dev/null || fail "vigil-agent Depends lacks libuv1 (shlibdeps): $(dpkg-deb -f "$AGENT1" Depends)"
dpkg-deb -f "$COLL1" Depends | grep "libsqlite3" >/dev/null || fail "vigil-collector Depends lacks libsqlite3"
dpkg-deb -I "$AGENT1" conffiles | grep -x "/etc/vigil/agent.toml" >/dev/null || fail "agent.toml is not a conffile"
dpkg-deb -I "$COLL1" conffiles | grep -x "/etc/vigil/collector.toml" >/dev/null || fail "collector.toml is not a conffile"

# --- collector ------------------------------------------------------------------------------
step "install vigil-collector $V1"
dpkg_retry -i "$COLL1" >"$T/dpkg-coll1.log" 2>&1 || fail "dpkg -i $COLL1"
[ "$(status_of vigil-collector)" = "ii $V1" ] || fail "vigil-collector status: $(status_of vigil-collector)"
getent passwd vigil >/dev/null || fail "postinst did not create the vigil user"
[ "$(stat -c '%U %a' /var/lib/vigil-collector)" = "vigil 700" ] || fail "/var/lib/vigil-collector: $(stat -c '%U %a' /var/lib/vigil-collector)"
U=/lib/systemd/system/vigil-collector.service
[ -f $U ] || fail "$U not installed"
grep -qx "User=vigil" $U && grep -qx "ProtectSystem=strict" $U && grep -qx "NoNewPrivileges=yes" $U || fail "$U is not hardened"
[ -L /etc/systemd/system/multi-user.target.wants/vigil-collector.service ] || fail "vigil-collector.service is not enabled"

INGEST=$(free_port); API=$(free_port)
# An administrator's change to the conffile: it must survive the upgrade.
sed -i "s|^listen = \"0.0.0.0:7443\"|listen = \"127.0.0.1:$INGEST\"|; s|^listen = \"127.0.0.1:8443\"|listen = \"127.0.0.1:$API\"|" /etc/vigil/collector.toml
grep -q "127.0.0.1:$INGEST" /etc/vigil/collector.toml || fail "could not set the ingest port in /etc/vigil/collector.toml"

# The unit's CapabilityBoundingSet= (empty) and NoNewPrivileges=yes.
grep -qx "CapabilityBoundingSet=" $U || fail "$U does not empty the capability bounding set"
COLLECTOR_PRIVS="--no-new-privs --inh-caps=-all --bounding-set=-all"
start_collector() {
  if [ $BOOTED = 1 ]; then
    systemctl restart vigil-collector
  else
    # What the unit's ExecStartPre and ExecStart do, as the unit's user.
    setpriv --reuid vigil --regid vigil --init-groups $COLLECTOR_PRIVS /usr/bin/vigil-collector init --exist-ok \
      --data-dir /var/lib/vigil-collector --config /etc/vigil/collector.toml >>"$T/collector.log" 2>&1 || fail "collector init"
    setpriv --reuid vigil --regid vigil --init-groups $COLLECTOR_PRIVS /usr/bin/vigil-collector run \
      --data-dir /var/lib/vigil-collector --config /etc/vigil/collector.toml >>"$T/collector.log" 2>&1 &
    COLLECTOR_PID=$!
    PIDS+=("$COLLECTOR_PID")
  fi
  wait_port "$API" && wait_port "$INGEST" || fail "the installed collector does not listen on $INGEST/$API"
}
stop_collector() {
  if [ $BOOTED = 1 ]; then systemctl stop vigil-collector; else kill "$COLLECTOR_PID"; wait "$COLLECTOR_PID" || true; fi
}
start_collector
[ "$(stat -c %U /var/lib/vigil-collector/ca.pem)" = vigil ] || fail "the data directory was not initialised as vigil"
export VIGIL_CA=$T/ca.pem
cp /var/lib/vigil-collector/ca.pem "$VIGIL_CA"
CTL_ENV=(env VIGIL_SERVER="https://127.0.0.1:$API" VIGIL_CA="$VIGIL_CA" VIGIL_TOKEN="$(cat /var/lib/vigil-collector/admin.token)")
mint() { "${CTL_ENV[@]}" /usr/bin/vigilctl enroll-token create --uses 1 --ttl 1h --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])'; }

# --- agent: install without enrollment, then enroll.env, then the environment ---------------
step "install vigil-agent $V1 without enrollment settings"
env -u VIGIL_SERVER -u VIGIL_ENROLL_TOKEN -u VIGIL_CA bash -c "$(declare -f dpkg_retry); dpkg_retry -i '$AGENT1'" >"$T/dpkg-agent-bare.log" 2>&1 \
  || fail "dpkg -i without enrollment failed"
[ "$(status_of vigil-agent)" = "ii $V1" ] || fail "vigil-agent status: $(status_of vigil-agent)"
grep -q "not enrolled" "$T/dpkg-agent-bare.log" || fail "postinst did not say how to enroll"
[ ! -e /var/lib/vigil-agent/device.pem ] || fail "enrolled without being asked to"
[ -L /etc/systemd/system/multi-user.target.wants/vigil-agent.service ] || fail "vigil-agent.service is not enabled"
AU=/lib/systemd/system/vigil-agent.service
grep -q "^CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_READ_SEARCH" $AU && grep -qx "NoNewPrivileges=yes" $AU \
  && grep -qx "ConditionPathExists=/var/lib/vigil-agent/agent.toml" $AU || fail "$AU is not as packaged"
systemd-analyze verify $U $AU >"$T/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.log")"

step "enroll at install from /etc/vigil/enroll.env (reinstall)"
printf 'VIGIL_SERVER=127.0.0.1:%s\nVIGIL_ENROLL_TOKEN="%s"\nVIGIL_CA=%s\n' "$INGEST" "$(mint)" "$VIGIL_CA" >/etc/vigil/enroll.env
chmod 600 /etc/vigil/enroll.env
env -u VIGIL_SERVER -u VIGIL_ENROLL_TOKEN -u VIGIL_CA bash -c "$(declare -f dpkg_retry); dpkg_retry -i '$AGENT1'" >"$T/dpkg-agent-envfile.log" 2>&1 \
  || fail "dpkg -i with enroll.env failed"
[ -f /var/lib/vigil-agent/device.pem ] || fail "enroll.env did not enroll: $(cat "$T/dpkg-agent-envfile.log")"
[ ! -e /etc/vigil/enroll.env ] || fail "enroll.env (a secret) was kept after enrolling"

step "purge, then enroll at install from the environment"
dpkg_retry -P vigil-agent >"$T/dpkg-agent-purge0.log" 2>&1 || fail "dpkg -P vigil-agent"
[ ! -e /var/lib/vigil-agent ] || fail "purge kept /var/lib/vigil-agent"
VIGIL_SERVER=127.0.0.1:$INGEST VIGIL_ENROLL_TOKEN=$(mint) dpkg_retry -i "$AGENT1" >"$T/dpkg-agent1.log" 2>&1 || fail "dpkg -i with the environment"
[ -f /var/lib/vigil-agent/device.pem ] || fail "the environment did not enroll: $(cat "$T/dpkg-agent1.log")"
DEVICE=$(sed -n 's/^device_id = "\(.*\)"/\1/p' /var/lib/vigil-agent/agent.toml)
[ -n "$DEVICE" ] || fail "no device_id in /var/lib/vigil-agent/agent.toml"
[ "$(stat -c %a /var/lib/vigil-agent/device.key)" = 600 ] || fail "device.key is not 0600"

# An administrator's change to the agent's conffile: capture limited to one directory.
W=$T/watched
mkdir -p "$W"
printf '\nwatch = ["%s"]\n' "$W" >>/etc/vigil/agent.toml

# The unit's CapabilityBoundingSet= as setpriv's --bounding-set, with NoNewPrivileges=yes.
CAPS=$(sed -n 's/^CapabilityBoundingSet=//p' $AU | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
[ -n "$CAPS" ] || fail "no CapabilityBoundingSet in $AU"
grep -qx "NoNewPrivileges=yes" $AU || fail "$AU lacks NoNewPrivileges=yes"
start_agent() {
  if [ $BOOTED = 1 ]; then
    systemctl restart vigil-agent
  else
    setpriv --no-new-privs --inh-caps=-all --bounding-set=-all,$CAPS /usr/bin/vigil-agent run --data-dir /var/lib/vigil-agent --config /etc/vigil/agent.toml >>"$T/agent.log" 2>&1 &
    AGENT_PID=$!
    PIDS+=("$AGENT_PID")
  fi
  sleep 1.5  # the capture marks are in place
}
stop_agent() {
  if [ $BOOTED = 1 ]; then systemctl stop vigil-agent; else kill "$AGENT_PID"; wait "$AGENT_PID" || true; fi
}
seen() {  # seen PATH: the collector has a file event for PATH from this device
  "${CTL_ENV[@]}" /usr/bin/vigilctl events --device "$DEVICE" --type file. --json --limit 1000 2>/dev/null | grep -F "\"$1\"" >/dev/null
}
wait_seen() {
  local i
  for i in $(seq 1 150); do seen "$1" && return 0; sleep 0.2; done
  return 1
}

step "the installed agent, with the unit's capabilities only, ships activity to the installed collector"
chmod 1777 "$W"
start_agent
echo "before the upgrade" >"$W/first.txt"
wait_seen "$W/first.txt" || fail "the collector never got $W/first.txt"
# Another user's process: who did it is still known (its program needs CAP_SYS_PTRACE).
setpriv --reuid nobody --regid nogroup --clear-groups sh -c "echo other >'$W/by-nobody.txt'"
wait_seen "$W/by-nobody.txt" || fail "the collector never got $W/by-nobody.txt"
"${CTL_ENV[@]}" /usr/bin/vigilctl events --device "$DEVICE" --type file.create --json --limit 1000 \
  | grep -F "\"$W/by-nobody.txt\"" | grep '"exe":"/' >/dev/null || fail "no program recorded for another user's file activity"
if [ $BOOTED = 0 ] && grep -E "not permitted|needs CAP_" "$T/agent.log"; then
  fail "the agent lacks a capability under the unit's bounding set (above)"
fi

step "activity while the collector is down stays in the spool"
stop_collector
echo "spooled across the upgrade" >"$W/spooled.txt"
sleep 2
stop_agent
KEY=$(sha /var/lib/vigil-agent/device.key); CERT=$(sha /var/lib/vigil-agent/device.pem)
CONF=$(sha /var/lib/vigil-agent/agent.toml); SPOOL=$(sha /var/lib/vigil-agent/spool.db)
CA=$(sha /var/lib/vigil-collector/ca.key); DB_SIZE=$(stat -c %s /var/lib/vigil-collector/vigil.db)

step "upgrade both to $V2"
dpkg_retry -i "$COLL2" "$AGENT2" >"$T/dpkg-upgrade.log" 2>&1 || fail "dpkg -i (upgrade)"
[ "$(status_of vigil-agent)" = "ii $V2" ] && [ "$(status_of vigil-collector)" = "ii $V2" ] \
  || fail "after the upgrade: $(status_of vigil-agent) / $(status_of vigil-collector)"
[ "$(sha /var/lib/vigil-agent/device.key)" = "$KEY" ] && [ "$(sha /var/lib/vigil-agent/device.pem)" = "$CERT" ] \
  || fail "the upgrade changed the device identity"
[ "$(sha /var/lib/vigil-agent/agent.toml)" = "$CONF" ] || fail "the upgrade changed the enrolled agent.toml"
[ "$(sha /var/lib/vigil-agent/spool.db)" = "$SPOOL" ] || fail "the upgrade changed the spool"
grep -qF "watch = [\"$W\"]" /etc/vigil/agent.toml || fail "the upgrade lost the change to /etc/vigil/agent.toml"
grep -q "127.0.0.1:$INGEST" /etc/vigil/collector.toml || fail "the upgrade lost the change to /etc/vigil/collector.toml"
[ "$(sha /var/lib/vigil-collector/ca.key)" = "$CA" ] || fail "the upgrade changed the collector's CA"
[ "$(stat -c %s /var/lib/vigil-collector/vigil.db)" -ge "$DB_SIZE" ] || fail "the upgrade shrank the collector's database"

start_collector
[ "$(sha /var/lib/vigil-collector/ca.key)" = "$CA" ] || fail "the collector's start after the upgrade replaced its CA"
start_agent
wait_seen "$W/spooled.txt" || fail "the event spooled before the upgrade never arrived after it"
seen "$W/first.txt" || fail "the collector lost $W/first.txt across the upgrade"
stop_agent
stop_collector

step "remove: services gone, data and configuration kept"
dpkg_retry -r vigil-agent vigil-collector >"$T/dpkg-remove.log" 2>&1 || fail "dpkg -r"
[ "$(status_of vigil-agent)" = "rc $V2" ] && [ "$(status_of vigil-collector)" = "rc $V2" ] \
  || fail "after remove: $(status_of vigil-agent) / $(status_of vigil-collector)"
[ ! -e /usr/bin/vigil-agent ] && [ ! -e /usr/bin/vigil-collector ] && [ ! -e $AU ] || fail "remove left the programs or units"
[ "$(sha /var/lib/vigil-agent/device.key)" = "$KEY" ] && [ -f /var/lib/vigil-agent/spool.db ] || fail "remove lost the agent's data"
[ "$(sha /var/lib/vigil-collector/ca.key)" = "$CA" ] && [ -f /var/lib/vigil-collector/vigil.db ] || fail "remove lost the collector's data"
grep -qF "watch = [\"$W\"]" /etc/vigil/agent.toml && [ -f /etc/vigil/collector.toml ] || fail "remove lost the configuration"

step "purge: everything gone"
dpkg_retry -P vigil-agent vigil-collector >"$T/dpkg-purge.log" 2>&1 || fail "dpkg -P"
[ -z "$(status_of vigil-agent)" ] || [ "$(status_of vigil-agent | cut -c1-2)" = "un" ] || fail "vigil-agent after purge: $(status_of vigil-agent)"
for gone in /var/lib/vigil-agent /var/lib/vigil-collector /etc/vigil /etc/default/vigil-collector \
            /etc/systemd/system/multi-user.target.wants/vigil-agent.service \
            /etc/systemd/system/multi-user.target.wants/vigil-collector.service; do
  [ ! -e "$gone" ] && [ ! -L "$gone" ] || fail "purge left $gone"
done

printf '\nPASS: packaging lifecycle (%s → %s, systemd %s)\n' "$V1" "$V2" "$([ $BOOTED = 1 ] && echo booted || echo 'not running: binaries run by the test')"
