#!/usr/bin/env bash
# The .rpms installed, upgraded and erased by rpm itself (CTest label `packaging`). No RPM
# distribution is reachable from here, so rpm (Debian's package) installs them into the cached
# Debian 12 root (tests/packaging/test_root.sh) booted with systemd as PID 1 in systemd-nspawn:
# the scriptlets run with a shell, systemd-sysusers/useradd and a running systemctl, as on
# Fedora/RHEL. --nodeps, because rpm's database there knows none of the Debian libraries the
# automatic Requires name (rpm_contents.sh checks those Requires). Checked:
#   - rpm -i: the files where `rpm -ql` says, `rpm -V` clean, conffiles %config(noreplace) in the
#     installed database; %pre made the `vigil` user; %post enabled and started the collector;
#     the agent enrolled at install (VIGIL_SERVER, VIGIL_ENROLL_TOKEN) and its unit started;
#   - rpm -U to a second build whose packaged conffiles changed: the administrator's edits kept,
#     the new defaults beside them as .rpmnew, identity, CA and database kept, both services
#     restarted on the new version;
#   - rpm -e: services stopped and disabled, programs and units gone, data kept, edited conffiles
#     saved as .rpmsave, the user kept.
# Exit 77 (skipped, loudly) without root, cpack, rpmbuild, systemd-nspawn or the cached root.
set -euo pipefail
# Pipes end in `grep ... >/dev/null`, not `grep -q`: -q stops reading, and the writer's SIGPIPE
# would fail the pipeline under pipefail.
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: rpm_install.sh BUILD_DIR}" && pwd)
ROOT=${VIGIL_TEST_ROOT:-/var/cache/vigil-test-root}

NSPAWN_TEST="rpm install test"  # names the test in skip() and fail() (nspawn_lib.sh)
T=""
. "$HERE/nspawn_lib.sh"
nspawn_preflight "$ROOT"
for tool in cpack rpmbuild; do command -v "$tool" >/dev/null || skip "$tool is not available (scripts/bootstrap.sh installs rpm)"; done
[ -x "$ROOT/usr/bin/rpm" ] || skip "$ROOT has no rpm: remake it with 'make systemd-root' after deleting it"

T=$(mktemp -d /tmp/vigil-rpminst.XXXXXX)
cleanup() { nspawn_halt; rm -rf "$T"; }
trap cleanup EXIT
step() { printf '\n== [%3ss] %s\n' "$SECONDS" "$*"; }
sha() { ct sha256sum "$1" | cut -d' ' -f1; }

step "cpack: the .rpms, and an upgrade build whose packaged conffiles changed"
V1=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
[ -n "$V1" ] || fail "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"
V2="$V1+upgradetest1"
CPACK_PIDS=()
cpack --config "$BUILD/CPackConfig.cmake" -G RPM -B "$T/v1" -D CPACK_OUTPUT_FILE_PREFIX="$T/pkg" \
      >"$T/cpack-v1.log" 2>&1 &
CPACK_PIDS+=($!)
cpack --config "$BUILD/CPackConfig.cmake" -G RPM -B "$T/v2" -D CPACK_OUTPUT_FILE_PREFIX="$T/pkg" \
      -D CPACK_PACKAGE_VERSION="$V2" -D CPACK_PRE_BUILD_SCRIPTS="$HERE/upgrade_conffiles.cmake" >"$T/cpack-v2.log" 2>&1 &
CPACK_PIDS+=($!)
for pid in "${CPACK_PIDS[@]}"; do wait "$pid" || { tail -n 30 "$T"/cpack-v*.log; fail "cpack -G RPM"; }; done
AGENT1=$(basename "$(ls "$T"/pkg/vigil-agent-"$V1"-*.rpm)"); AGENT2=$(basename "$(ls "$T"/pkg/vigil-agent-"$V2"-*.rpm)")
COLL1=$(basename "$(ls "$T"/pkg/vigil-collector-"$V1"-*.rpm)"); COLL2=$(basename "$(ls "$T"/pkg/vigil-collector-"$V2"-*.rpm)")
echo "$AGENT1 $COLL1 -> $AGENT2 $COLL2"

# The binaries still need their (Debian) shared libraries in the root: the .debs' Depends name them.
step "the root has the libraries the programs link (from the .debs' Depends)"
cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$T/deb" -D CPACK_OUTPUT_FILE_PREFIX="$T/deb" >"$T/cpack-deb.log" 2>&1 \
  || { tail -n 30 "$T/cpack-deb.log"; fail "cpack -G DEB"; }
bash "$HERE/test_root.sh" deps "$ROOT" "$T"/deb/*.deb || fail "could not give $ROOT the packages' dependencies"

step "boot $ROOT with systemd as PID 1"
nspawn_boot "$ROOT" "vigil-rpm-$$" --bind-ro="$T/pkg:/vigil-pkgs"
ct test -d /run/systemd/system || fail "systemd is not the running init in the container"
q() { ct rpm -q --qf "$2" "$1"; }

# rpm's own dependency check first: what it finds unsatisfied here may only be what an RPM
# distribution provides (the libraries' sonames, /bin/sh, shadow-utils, the dynamic loader), never
# something the packages themselves should provide (a config(NAME) capability, one another).
step "rpm -i --test: nothing unsatisfied but what an RPM distribution provides"
out=$(ct rpm -i --test "/vigil-pkgs/$COLL1" "/vigil-pkgs/$AGENT1" 2>&1 || true)
grep -F 'libc.so.6()(64bit) is needed by' <<<"$out" >/dev/null || fail "rpm -i --test did not check dependencies: $out"
unexpected=$(grep 'is needed by' <<<"$out" | sed 's/ is needed by.*//; s/^[[:space:]]*//' \
  | grep -vE '^(lib[^ ]*\.so[^ ]*|/bin/sh|shadow-utils|rtld\(GNU_HASH\))$' || true)
[ -z "$unexpected" ] || fail "requirements no RPM distribution provides: $(echo $unexpected)"
# So --nodeps from here on: rpm's database in this Debian root knows none of those.
RPM=(rpm --nodeps)

# --- install --------------------------------------------------------------------------------
step "rpm -i $COLL1: %pre makes the user, %post enables and starts the collector"
ct getent passwd vigil >/dev/null && fail "the root already has a vigil user; the test could not tell %pre made it"
ct "${RPM[@]}" -i "/vigil-pkgs/$COLL1" >"$T/rpm-coll1.log" 2>&1 || { cat "$T/rpm-coll1.log"; fail "rpm -i $COLL1"; }
[ "$(q vigil-collector '%{VERSION}')" = "$V1" ] || fail "rpm -q vigil-collector: $(q vigil-collector '%{VERSION}')"
ct getent passwd vigil >/dev/null || fail "%pre did not create the vigil user"
[ "$(ct getent passwd vigil | cut -d: -f6,7)" = "/var/lib/vigil-collector:/sbin/nologin" ] \
  || fail "vigil user: $(ct getent passwd vigil)"
ct systemctl is-enabled vigil-collector >/dev/null || fail "%post did not enable vigil-collector.service"
ct_stays_active vigil-collector || fail "%post did not start vigil-collector.service: $(ct systemctl status --no-pager vigil-collector)"
ct_wait_port 8443 || fail "the collector does not listen on 8443"
for f in /usr/bin/vigil-collector /usr/bin/vigilctl /usr/lib/systemd/system/vigil-collector.service \
         /usr/lib/sysusers.d/vigil-collector.conf /etc/vigil/collector.toml /etc/default/vigil-collector; do
  ct rpm -ql vigil-collector | grep -x "$f" >/dev/null || fail "rpm -ql vigil-collector lacks $f"
  ct test -e "$f" || fail "$f is in the package but not on disk"
done
# The unit systemd runs is the package's (on this merged-/usr root /lib/systemd/system, systemd's
# first search path on Debian, is the same directory).
FRAG=$(ct_prop vigil-collector FragmentPath)
ct test "$FRAG" -ef /usr/lib/systemd/system/vigil-collector.service || fail "systemd loaded vigil-collector from $FRAG"
# %config(noreplace) as rpm recorded it at install (fflags "cn"), and rpm -qc lists them.
conf() { ct rpm -q --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$1" | awk -v f="$2" '$1==f {print $2}'; }
[ "$(conf vigil-collector /etc/vigil/collector.toml)" = cn ] || fail "collector.toml installed as $(conf vigil-collector /etc/vigil/collector.toml), not %config(noreplace)"
[ "$(conf vigil-collector /etc/default/vigil-collector)" = cn ] || fail "/etc/default/vigil-collector not %config(noreplace)"
[ "$(ct rpm -qc vigil-collector | sort | xargs)" = "/etc/default/vigil-collector /etc/vigil/collector.toml" ] \
  || fail "rpm -qc vigil-collector: $(ct rpm -qc vigil-collector | xargs)"
ct rpm -V --nodeps vigil-collector >"$T/verify.log" 2>&1 || fail "rpm -V vigil-collector: $(cat "$T/verify.log")"

CA=/var/lib/vigil-collector/ca.pem
ctl() { ct_env VIGIL_SERVER=https://127.0.0.1:8443 VIGIL_CA=$CA "VIGIL_TOKEN=$(ct cat /var/lib/vigil-collector/admin.token)" -- vigilctl "$@"; }
TOKEN=$(ctl enroll-token create --uses 1 --ttl 1h --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])') \
  || fail "vigilctl enroll-token create"

step "VIGIL_SERVER=... VIGIL_ENROLL_TOKEN=... rpm -i $AGENT1: %post enrolls and starts the agent"
ct_env VIGIL_SERVER=127.0.0.1:7443 "VIGIL_ENROLL_TOKEN=$TOKEN" VIGIL_CA=$CA -- "${RPM[@]}" -i "/vigil-pkgs/$AGENT1" >"$T/rpm-agent1.log" 2>&1 \
  || { cat "$T/rpm-agent1.log"; fail "rpm -i $AGENT1"; }
ct test -f /var/lib/vigil-agent/device.pem || fail "%post did not enroll: $(cat "$T/rpm-agent1.log")"
ct systemctl is-enabled vigil-agent >/dev/null || fail "%post did not enable vigil-agent.service"
ct_stays_active vigil-agent || fail "%post did not start vigil-agent.service: $(ct systemctl status --no-pager vigil-agent)"
[ "$(conf vigil-agent /etc/vigil/agent.toml)" = cn ] || fail "agent.toml installed as $(conf vigil-agent /etc/vigil/agent.toml)"
ct rpm -ql vigil-agent | grep -x /usr/libexec/vigil/vigil-agent-enroll >/dev/null || fail "rpm -ql vigil-agent lacks the enroll helper"
ct rpm -V --nodeps vigil-agent >"$T/verify.log" 2>&1 || fail "rpm -V vigil-agent: $(cat "$T/verify.log")"

# --- upgrade --------------------------------------------------------------------------------
step "an administrator edits both conffiles; rpm -U to $V2"
ct sh -c 'printf "\n# edited by the administrator\n" >>/etc/vigil/agent.toml; printf "\n# edited by the administrator\n" >>/etc/vigil/collector.toml'
KEY=$(sha /var/lib/vigil-agent/device.key); CERT=$(sha /var/lib/vigil-agent/device.pem)
CAKEY=$(sha /var/lib/vigil-collector/ca.key); AGENT_CONF=$(sha /etc/vigil/agent.toml); COLL_CONF=$(sha /etc/vigil/collector.toml)
APID1=$(ct_prop vigil-agent MainPID); CPID1=$(ct_prop vigil-collector MainPID)
ct "${RPM[@]}" -U "/vigil-pkgs/$COLL2" "/vigil-pkgs/$AGENT2" >"$T/rpm-upgrade.log" 2>&1 || { cat "$T/rpm-upgrade.log"; fail "rpm -U"; }
[ "$(q vigil-agent '%{VERSION}')" = "$V2" ] && [ "$(q vigil-collector '%{VERSION}')" = "$V2" ] \
  || fail "after rpm -U: $(q vigil-agent '%{VERSION}') / $(q vigil-collector '%{VERSION}')"
[ "$(ct rpm -q vigil-agent vigil-collector | wc -l)" = 2 ] || fail "rpm -U left two versions installed: $(ct rpm -q vigil-agent vigil-collector)"
[ "$(sha /etc/vigil/agent.toml)" = "$AGENT_CONF" ] || fail "rpm -U replaced the edited /etc/vigil/agent.toml"
[ "$(sha /etc/vigil/collector.toml)" = "$COLL_CONF" ] || fail "rpm -U replaced the edited /etc/vigil/collector.toml"
for f in /etc/vigil/agent.toml /etc/vigil/collector.toml; do
  ct grep -q "upgradetest: this release changed" "$f.rpmnew" || fail "rpm -U did not put the new $f beside the edited one as .rpmnew"
done
[ "$(sha /var/lib/vigil-agent/device.key)" = "$KEY" ] && [ "$(sha /var/lib/vigil-agent/device.pem)" = "$CERT" ] \
  || fail "rpm -U changed the device identity"
[ "$(sha /var/lib/vigil-collector/ca.key)" = "$CAKEY" ] || fail "rpm -U changed the collector's CA"
ct_stays_active vigil-collector && ct_stays_active vigil-agent || fail "a service does not stay active after rpm -U"
[ "$(ct_prop vigil-collector MainPID)" != "$CPID1" ] || fail "%post did not restart the collector on upgrade"
[ "$(ct_prop vigil-agent MainPID)" != "$APID1" ] || fail "%post did not restart the agent on upgrade"
ct_wait_port 8443 || fail "the upgraded collector does not listen"
[ "$(sha /var/lib/vigil-collector/ca.key)" = "$CAKEY" ] || fail "the upgraded collector's first start replaced its CA"
ctl devices --json >"$T/devices.json" 2>&1 || fail "vigilctl devices after the upgrade: $(cat "$T/devices.json")"
DEVICE=$(ct sed -n 's/^device_id = "\(.*\)"/\1/p' /var/lib/vigil-agent/agent.toml)
grep -F "$DEVICE" "$T/devices.json" >/dev/null || fail "the collector forgot device $DEVICE across the upgrade"

# --- erase ----------------------------------------------------------------------------------
step "rpm -e: services stopped and disabled, data kept, edited conffiles saved"
ct rpm -e --nodeps vigil-agent vigil-collector >"$T/rpm-erase.log" 2>&1 || { cat "$T/rpm-erase.log"; fail "rpm -e"; }
ct rpm -q vigil-agent >/dev/null 2>&1 && fail "vigil-agent still installed after rpm -e"
for u in vigil-agent vigil-collector; do
  s=$(ct systemctl is-active "$u" || true)
  [ "$s" = inactive ] || fail "$u is '$s' after rpm -e"
  [ -z "$(ct find /etc/systemd/system -name "$u.service")" ] || fail "rpm -e left $u enabled: $(ct find /etc/systemd/system -name "$u.service")"
done
for p in vigil-agent vigil-collector; do ct pgrep -x "$p" && fail "$p outlived rpm -e"; done
for gone in /usr/bin/vigil-agent /usr/bin/vigil-collector /usr/bin/vigilctl /usr/lib/systemd/system/vigil-agent.service \
            /usr/lib/systemd/system/vigil-collector.service /usr/libexec/vigil/vigil-agent-enroll; do
  ct test ! -e "$gone" || fail "rpm -e left $gone"
done
[ "$(sha /var/lib/vigil-agent/device.key)" = "$KEY" ] || fail "rpm -e lost the agent's identity"
[ "$(sha /var/lib/vigil-collector/ca.key)" = "$CAKEY" ] && ct test -f /var/lib/vigil-collector/vigil.db || fail "rpm -e lost the collector's data"
for f in /etc/vigil/agent.toml /etc/vigil/collector.toml; do
  ct grep -q "edited by the administrator" "$f.rpmsave" || fail "rpm -e did not keep the edited $f as $f.rpmsave"
done
ct getent passwd vigil >/dev/null || fail "rpm -e removed the vigil user (files may still name its uid)"

printf '\nPASS: rpm install, upgrade and erase under systemd (%s -> %s)\n' "$V1" "$V2"
