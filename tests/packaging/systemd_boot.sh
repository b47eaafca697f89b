#!/usr/bin/env bash
# The packaged units under a booted systemd (CTest label `packaging`). This machine has no systemd
# as PID 1, so the test boots one: the cached minimal Debian 12 root (tests/packaging/test_root.sh,
# `make systemd-root`) in `systemd-nspawn -b`, and in it, with only what the .debs' Depends pull
# in:
#   - dpkg -i vigil-collector: the postinst starts vigil-collector.service, it is active, its first
#     start initialised the data directory, it logs to the journal (journalctl -u);
#   - its hardening is in effect: systemctl show (User=vigil, NoNewPrivileges, empty
#     CapabilityBoundingSet, ProtectSystem=strict, ...) and the running process's
#     /proc/PID/status (uid, CapEff/CapBnd 0, NoNewPrivs 1, a seccomp filter), a read-only
#     root in its own mount namespace;
#   - VIGIL_SERVER/VIGIL_ENROLL_TOKEN dpkg -i vigil-agent: enrolled at install, the unit started;
#     its process has exactly the unit's capabilities (CapEff = CapBnd = the unit's set),
#     NoNewPrivs and the seccomp filter, and under them a file written by another user reaches
#     the collector with the program that wrote it; nothing in its journal says a capability or
#     a system call was refused;
#   - dpkg -i of a bumped build: the postinsts restart both services, identity, CA and the
#     conffile change are kept, activity after the upgrade arrives;
#   - systemctl stop: both stop cleanly (inactive, Result=success, no SIGKILL, no process left);
#   - dpkg -r stops the services through the prerms and keeps the data; dpkg -P deletes the data
#     and the enable links and keeps the user.
# The container allows the three system calls fanotify capture needs (nspawn_lib.sh says why).
# Exit 77 (skipped, loudly) without root, systemd-nspawn, cpack or the cached root.
set -euo pipefail
# Pipes end in `grep ... >/dev/null`, not `grep -q`: -q stops reading, and the writer's SIGPIPE
# would fail the pipeline under pipefail.
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: systemd_boot.sh BUILD_DIR}" && pwd)
ROOT=${VIGIL_TEST_ROOT:-/var/cache/vigil-test-root}

NSPAWN_TEST="booted-systemd packaging test"  # names the test in skip() and fail() (nspawn_lib.sh)
T=""
. "$HERE/nspawn_lib.sh"
nspawn_preflight "$ROOT"
for tool in cpack dpkg-deb; do command -v "$tool" >/dev/null || skip "$tool is not available"; done

T=$(mktemp -d /tmp/vigil-sysdtest.XXXXXX)
cleanup() { nspawn_halt; rm -rf "$T"; }
trap cleanup EXIT
step() { printf '\n== [%3ss] %s\n' "$SECONDS" "$*"; }

step "cpack: the .debs, and an upgrade with a bumped version"
V1=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
[ -n "$V1" ] || fail "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"
V2="$V1+upgradetest1"
cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$T/b1" -D CPACK_OUTPUT_FILE_PREFIX="$T/pkg" >"$T/cpack-v1.log" 2>&1 &
P1=$!
cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$T/b2" -D CPACK_OUTPUT_FILE_PREFIX="$T/pkg" \
      -D CPACK_PACKAGE_VERSION="$V2" >"$T/cpack-v2.log" 2>&1 &
P2=$!
wait $P1 && wait $P2 || { tail -n 30 "$T"/cpack-v*.log; fail "cpack -G DEB"; }
AGENT=$(basename "$(ls "$T"/pkg/vigil-agent_"$V1"_*.deb)"); AGENT2=$(basename "$(ls "$T"/pkg/vigil-agent_"$V2"_*.deb)")
COLL=$(basename "$(ls "$T"/pkg/vigil-collector_"$V1"_*.deb)"); COLL2=$(basename "$(ls "$T"/pkg/vigil-collector_"$V2"_*.deb)")

step "the root has what the packages depend on (apt, only when something is missing)"
bash "$HERE/test_root.sh" deps "$ROOT" "$T/pkg/$AGENT" "$T/pkg/$COLL" || fail "could not give $ROOT the packages' dependencies"

step "boot $ROOT with systemd as PID 1"
nspawn_boot "$ROOT" "vigil-sysd-$$" --bind-ro="$T/pkg:/vigil-pkgs" --tmpfs=/srv/watched:mode=1777
[ "$(ct cat /proc/1/comm)" = systemd ] || fail "PID 1 of the container is not systemd"
ct test -d /run/systemd/system || fail "/run/systemd/system missing: systemd is not the running init"
printf 'booted: %s\n' "$(ct systemctl --version | head -n1)"

# --- collector ------------------------------------------------------------------------------
step "dpkg -i $COLL: the postinst starts the unit"
ct dpkg -i "/vigil-pkgs/$COLL" >"$T/dpkg-coll.log" 2>&1 || { cat "$T/dpkg-coll.log"; fail "dpkg -i $COLL"; }
ct_stays_active vigil-collector || fail "vigil-collector.service is not active: $(ct systemctl status --no-pager vigil-collector)"
ct systemctl is-enabled vigil-collector >/dev/null || fail "vigil-collector.service is not enabled"
ct_wait_port 8443 && ct_wait_port 7443 || fail "the collector does not listen on 127.0.0.1:8443 and :7443"
ct test -f /var/lib/vigil-collector/ca.pem || fail "the first start did not initialise /var/lib/vigil-collector"
[ "$(ct stat -c '%U %a' /var/lib/vigil-collector)" = "vigil 700" ] || fail "/var/lib/vigil-collector: $(ct stat -c '%U %a' /var/lib/vigil-collector)"

step "the collector logs to the journal"
ct journalctl -u vigil-collector --no-pager -o cat >"$T/journal-coll.txt"
grep -F "vigil-collector" "$T/journal-coll.txt" >/dev/null || fail "no vigil-collector line in journalctl -u vigil-collector"
# Its own output (ExecStartPre's init and the server's start), not only systemd's lines about it.
grep -vE '^(Starting|Started|Stopping|Stopped) ' "$T/journal-coll.txt" | grep . >/dev/null \
  || fail "the journal of vigil-collector has only systemd's lines: $(cat "$T/journal-coll.txt")"
sed 's/^/  journal: /' "$T/journal-coll.txt" | head -n 8

step "the collector's hardening is in effect"
expect_prop() {  # expect_prop UNIT PROP VALUE
  local got
  got=$(ct_prop "$1" "$2")
  [ "$got" = "$3" ] || fail "$1: systemctl show $2 = '$got', expected '$3'"
}
expect_prop vigil-collector User vigil
expect_prop vigil-collector NoNewPrivileges yes
expect_prop vigil-collector CapabilityBoundingSet ""
expect_prop vigil-collector AmbientCapabilities ""
expect_prop vigil-collector ProtectSystem strict
expect_prop vigil-collector ProtectHome yes
expect_prop vigil-collector PrivateTmp yes
expect_prop vigil-collector PrivateDevices yes
expect_prop vigil-collector PrivateUsers yes
expect_prop vigil-collector RestrictNamespaces yes
expect_prop vigil-collector MemoryDenyWriteExecute yes
CPID=$(ct_prop vigil-collector MainPID)
[ "$CPID" -gt 0 ] || fail "vigil-collector has no MainPID"
[ "$(ct cat /proc/$CPID/comm)" = vigil-collector ] || fail "MainPID $CPID is $(ct cat /proc/$CPID/comm)"
VUID=$(ct id -u vigil)
[ "$(ct_status "$CPID" Uid)" = "$VUID" ] || fail "the collector runs as uid $(ct_status "$CPID" Uid), not vigil ($VUID)"
for f in CapEff CapPrm CapBnd CapAmb; do
  [ "$(ct_status "$CPID" $f)" = 0000000000000000 ] || fail "collector $f = $(ct_status "$CPID" $f), expected none"
done
[ "$(ct_status "$CPID" NoNewPrivs)" = 1 ] || fail "collector NoNewPrivs = $(ct_status "$CPID" NoNewPrivs)"
[ "$(ct_status "$CPID" Seccomp)" = 2 ] || fail "collector Seccomp = $(ct_status "$CPID" Seccomp): no system-call filter"
# ProtectSystem=strict: its own mount namespace, where / is read-only and the data directory is not.
[ "$(ct readlink /proc/$CPID/ns/mnt)" != "$(ct readlink /proc/1/ns/mnt)" ] || fail "the collector shares PID 1's mount namespace"
ct awk '$5=="/" {print $6}' /proc/$CPID/mountinfo | grep '^ro' >/dev/null || fail "/ is not read-only for the collector"
ct awk '$5=="/var/lib/vigil-collector" {print $6}' /proc/$CPID/mountinfo | grep '^rw' >/dev/null \
  || fail "/var/lib/vigil-collector is not writable for the collector"
ct awk '$5=="/home" {print $6}' /proc/$CPID/mountinfo | grep . >/dev/null || fail "ProtectHome=yes left /home visible"
printf 'collector pid %s: uid %s, CapEff %s, NoNewPrivs 1, Seccomp 2, / read-only\n' "$CPID" "$VUID" "$(ct_status "$CPID" CapEff)"

# --- agent ----------------------------------------------------------------------------------
CA=/var/lib/vigil-collector/ca.pem
ctl() { ct_env VIGIL_SERVER=https://127.0.0.1:8443 VIGIL_CA=$CA "VIGIL_TOKEN=$(ct cat /var/lib/vigil-collector/admin.token)" -- vigilctl "$@"; }
TOKEN=$(ctl enroll-token create --uses 1 --ttl 1h --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])') \
  || fail "vigilctl enroll-token create"

step "VIGIL_SERVER=... VIGIL_ENROLL_TOKEN=... dpkg -i $AGENT: enrolled and started"
ct_env VIGIL_SERVER=127.0.0.1:7443 "VIGIL_ENROLL_TOKEN=$TOKEN" VIGIL_CA=$CA -- dpkg -i "/vigil-pkgs/$AGENT" >"$T/dpkg-agent.log" 2>&1 \
  || { cat "$T/dpkg-agent.log"; fail "dpkg -i $AGENT"; }
ct test -f /var/lib/vigil-agent/device.pem || fail "not enrolled at install: $(cat "$T/dpkg-agent.log")"
DEVICE=$(ct sed -n 's/^device_id = "\(.*\)"/\1/p' /var/lib/vigil-agent/agent.toml)
[ -n "$DEVICE" ] || fail "no device_id in /var/lib/vigil-agent/agent.toml"
ct_wait_active vigil-agent || fail "vigil-agent.service is not active after enrolling: $(ct systemctl status --no-pager vigil-agent)"
# Capture limited to a directory of the test (an administrator's setting in the conffile).
ct sh -c 'printf "\nwatch = [\"/srv/watched\"]\n" >>/etc/vigil/agent.toml'
ct systemctl restart vigil-agent
ct_stays_active vigil-agent || fail "vigil-agent.service does not stay active after a restart: $(ct systemctl status --no-pager vigil-agent)"

step "the agent's hardening is in effect"
AU_CAPS="cap_dac_read_search cap_net_admin cap_sys_ptrace cap_sys_admin cap_sys_nice cap_audit_control"
expect_prop vigil-agent NoNewPrivileges yes
[ "$(ct_prop vigil-agent CapabilityBoundingSet | tr ' ' '\n' | sort | xargs)" = "$(tr ' ' '\n' <<<"$AU_CAPS" | sort | xargs)" ] \
  || fail "vigil-agent CapabilityBoundingSet = $(ct_prop vigil-agent CapabilityBoundingSet)"
expect_prop vigil-agent ProtectSystem no  # deliberately: capture must see the host's mounts (docs/PACKAGING.md)
expect_prop vigil-agent RestrictNamespaces net
expect_prop vigil-agent MemoryDenyWriteExecute yes
APID=$(ct_prop vigil-agent MainPID)
[ "$APID" -gt 0 ] && [ "$(ct cat /proc/$APID/comm)" = vigil-agent ] || fail "vigil-agent MainPID $APID"
WANT=$(python3 -c '
import sys
bits = {"cap_dac_read_search": 2, "cap_net_admin": 12, "cap_sys_ptrace": 19, "cap_sys_admin": 21, "cap_sys_nice": 23, "cap_audit_control": 30}
print("%016x" % sum(1 << bits[c] for c in sys.argv[1].split()))' "$AU_CAPS")
for f in CapEff CapPrm CapBnd; do
  [ "$(ct_status "$APID" $f)" = "$WANT" ] || fail "agent $f = $(ct_status "$APID" $f), expected $WANT (the unit's set)"
done
[ "$(ct_status "$APID" CapAmb)" = 0000000000000000 ] || fail "agent CapAmb = $(ct_status "$APID" CapAmb)"
[ "$(ct_status "$APID" Uid | cut -f1)" = 0 ] || fail "the agent does not run as root"
[ "$(ct_status "$APID" NoNewPrivs)" = 1 ] || fail "agent NoNewPrivs = $(ct_status "$APID" NoNewPrivs)"
[ "$(ct_status "$APID" Seccomp)" = 2 ] || fail "agent Seccomp = $(ct_status "$APID" Seccomp): no system-call filter"
[ "$(ct readlink /proc/$APID/ns/mnt)" = "$(ct readlink /proc/1/ns/mnt)" ] || fail "the agent got a mount namespace of its own"
# Background work: it set SCHED_BATCH for itself, through the unit's system-call filter.
ct chrt -p "$APID" | grep -q SCHED_BATCH || fail "the agent does not run as SCHED_BATCH: $(ct chrt -p "$APID")"
printf 'agent pid %s: uid 0, CapEff %s (the unit'"'"'s six), NoNewPrivs 1, Seccomp 2, host mount namespace, SCHED_BATCH\n' "$APID" "$WANT"

# agent_running PID: that agent process logged "running": its capture marks are in place (a fixed
# sleep was not always enough on a loaded machine).
agent_running() {
  local i
  for i in $(seq 1 150); do
    ct journalctl _PID="$1" --no-pager -o cat 2>/dev/null | grep -Eq 'component=agent msg="?running"?( |$)' && return 0
    sleep 0.2
  done
  return 1
}

step "under that sandbox, another user's file activity reaches the collector"
agent_running "$APID" || fail "the agent (pid $APID) never logged that it is running"
# The writer stays alive a while: in a container the agent has no process connector (it needs the
# initial pid namespace), so it reads the writer's /proc/PID/exe when it drains the record; for
# another user's process that read needs CAP_SYS_PTRACE, which is what this checks.
ct setpriv --reuid nobody --regid nogroup --clear-groups sh -c 'echo other >/srv/watched/by-nobody.txt; sleep 4' &
WRITER=$!
seen() {
  ctl events --device "$DEVICE" --type file. --json --limit 1000 2>/dev/null | grep -F '"/srv/watched/by-nobody.txt"' >"$T/seen.json"
}
ok=0
for i in $(seq 1 150); do seen && { ok=1; break; }; sleep 0.2; done
[ $ok = 1 ] || fail "the collector never got /srv/watched/by-nobody.txt from device $DEVICE"
wait "$WRITER" || true
grep '"exe":"/' "$T/seen.json" >/dev/null || fail "no program recorded for another user's file activity: $(head -c 600 "$T/seen.json")"
ct journalctl -u vigil-agent --no-pager -o cat >"$T/journal-agent.txt"
grep -vE '^(Starting|Started|Stopping|Stopped) ' "$T/journal-agent.txt" | grep . >/dev/null \
  || fail "the agent's journal has none of its own lines"
if grep -iE "not permitted|needs CAP_|permission denied|bad system call" "$T/journal-agent.txt"; then
  fail "the agent was refused a capability or a system call under the unit's sandbox (above)"
fi
printf 'recorded: %s\n' "$(grep -o '"exe":"[^"]*","comm":"[^"]*","uid":[0-9]*' "$T/seen.json" | head -n1)"
sed 's/^/  journal: /' "$T/journal-agent.txt" | tail -n 6

# --- upgrade --------------------------------------------------------------------------------
step "dpkg -i $V2: the postinsts restart both running services; identity and data kept"
KEY=$(ct sha256sum /var/lib/vigil-agent/device.key | cut -d' ' -f1)
CAKEY=$(ct sha256sum /var/lib/vigil-collector/ca.key | cut -d' ' -f1)
APID1=$(ct_prop vigil-agent MainPID); CPID1=$(ct_prop vigil-collector MainPID)
ct dpkg -i "/vigil-pkgs/$COLL2" "/vigil-pkgs/$AGENT2" >"$T/dpkg-upgrade.log" 2>&1 || { cat "$T/dpkg-upgrade.log"; fail "dpkg -i (upgrade)"; }
[ "$(ct dpkg-query -W -f='${Version}' vigil-agent)" = "$V2" ] && [ "$(ct dpkg-query -W -f='${Version}' vigil-collector)" = "$V2" ] \
  || fail "not upgraded: $(ct dpkg-query -W -f='${Version} ' vigil-agent vigil-collector)"
ct_stays_active vigil-collector && ct_stays_active vigil-agent || fail "a service does not stay active after the upgrade"
[ "$(ct_prop vigil-collector MainPID)" != "$CPID1" ] || fail "the upgrade did not restart the collector"
[ "$(ct_prop vigil-agent MainPID)" != "$APID1" ] || fail "the upgrade did not restart the agent"
[ "$(ct sha256sum /var/lib/vigil-agent/device.key | cut -d' ' -f1)" = "$KEY" ] || fail "the upgrade changed the device identity"
[ "$(ct sha256sum /var/lib/vigil-collector/ca.key | cut -d' ' -f1)" = "$CAKEY" ] || fail "the upgrade (or the collector's start after it) replaced the CA"
ct grep -qF 'watch = ["/srv/watched"]' /etc/vigil/agent.toml || fail "the upgrade lost the change to /etc/vigil/agent.toml"
agent_running "$(ct_prop vigil-agent MainPID)" || fail "the restarted agent never logged that it is running"
ct sh -c 'echo after >/srv/watched/after-upgrade.txt'
ok=0
for i in $(seq 1 150); do
  ctl events --device "$DEVICE" --type file. --json --limit 1000 2>/dev/null | grep -F '"/srv/watched/after-upgrade.txt"' >/dev/null && { ok=1; break; }
  sleep 0.2
done
[ $ok = 1 ] || fail "after the upgrade the collector never got /srv/watched/after-upgrade.txt"

# --- stop -----------------------------------------------------------------------------------
step "systemctl stop: both stop cleanly"
for u in vigil-agent vigil-collector; do
  t0=$(date +%s%N)
  ct systemctl stop "$u"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$(ct systemctl is-active "$u" || true)" = inactive ] || fail "$u is $(ct systemctl is-active "$u" || true) after stop"
  expect_prop "$u" Result success
  [ "$(ct_prop "$u" MainPID)" = 0 ] || fail "$u still has a main process"
  ct journalctl -u "$u" --no-pager -o cat >"$T/journal-stop.txt"
  if grep -E "timed out|Killing process|SIGKILL|Failed with result" "$T/journal-stop.txt"; then
    fail "$u did not stop cleanly (above)"
  fi
  printf '%s stopped in %s ms, Result=success\n' "$u" "$ms"
done
for p in vigil-agent vigil-collector; do ct pgrep -x "$p" && fail "$p outlived systemctl stop"; done

step "dpkg -r: the maintainer scripts take the services down"
ct systemctl start vigil-collector vigil-agent
ct_wait_active vigil-agent && ct_wait_active vigil-collector || fail "restart before remove"
ct dpkg -r vigil-agent vigil-collector >"$T/dpkg-remove.log" 2>&1 || { cat "$T/dpkg-remove.log"; fail "dpkg -r"; }
for u in vigil-agent vigil-collector; do
  s=$(ct systemctl is-active "$u" || true)
  [ "$s" = inactive ] || fail "$u is '$s' after dpkg -r"
done
for p in vigil-agent vigil-collector; do ct pgrep -x "$p" && fail "$p outlived dpkg -r"; done
ct test -f /var/lib/vigil-agent/device.pem && ct test -f /var/lib/vigil-collector/ca.pem || fail "dpkg -r lost data"

step "dpkg -P: data and enable links gone, the user kept"
ct dpkg -P vigil-agent vigil-collector >"$T/dpkg-purge.log" 2>&1 || { cat "$T/dpkg-purge.log"; fail "dpkg -P"; }
for gone in /var/lib/vigil-agent /var/lib/vigil-collector /etc/vigil \
            /etc/systemd/system/multi-user.target.wants/vigil-agent.service \
            /etc/systemd/system/multi-user.target.wants/vigil-collector.service; do
  ct test ! -e "$gone" -a ! -L "$gone" || fail "dpkg -P left $gone"
done
for u in vigil-agent vigil-collector; do
  s=$(ct systemctl show -p LoadState --value "$u")
  [ "$s" = not-found ] || [ "$s" = masked ] || fail "after purge systemd still has $u as '$s'"
done
ct getent passwd vigil >/dev/null || fail "dpkg -P removed the vigil user"

printf '\nPASS: packaged units under a booted systemd (%s; %s -> %s)\n' "$(ct systemctl --version | head -n1)" "$V1" "$V2"
