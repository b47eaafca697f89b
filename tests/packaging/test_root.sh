#!/usr/bin/env bash
# The Debian 12 root the booted-systemd packaging tests boot with `systemd-nspawn -b`
# (tests/packaging/systemd_boot.sh, rpm_install.sh). Cached outside any build directory so a rerun
# boots in seconds; the tests never write to it (they boot it with --volatile=overlay).
#
#   test_root.sh create ROOT          debootstrap a minimal bookworm with systemd, dbus, rpm (the
#                                     Debian archive; ~2-3 min, network); nothing if it exists
#   test_root.sh deps ROOT DEB...     install into ROOT, with apt, the packages the .debs' Depends
#                                     name that it lacks (network only when something is missing)
#   test_root.sh check ROOT           exit 0 when ROOT is a complete root made by `create`
#
# A lock file beside ROOT serialises writers; readers (the tests) take it shared, so a root is
# never changed under a booted container.
set -euo pipefail

cmd=${1:?usage: test_root.sh create|deps|check ROOT [DEB...]}
ROOT=${2:?usage: test_root.sh create|deps|check ROOT [DEB...]}
shift 2
STAMP=$ROOT/.vigil-test-root
SUITE=bookworm
MIRROR=${VIGIL_TEST_ROOT_MIRROR:-http://deb.debian.org/debian}
# What the tests use inside besides the packages' own Depends: systemd as PID 1 and its bus,
# rpm for rpm_install.sh (its scriptlets need sh, useradd, systemctl: all in this root).
INCLUDE=systemd,systemd-sysv,dbus,libpam-systemd,procps,passwd,rpm,init-system-helpers

die() { printf 'test_root.sh: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"

# A command in ROOT, not booted: nspawn gives it /proc, /dev and the host's network. nspawn's
# complaint that it will not clean its propagation directory (this host's /run is not a tmpfs)
# is noise.
in_root() {
  systemd-nspawn -q --register=no --keep-unit -D "$ROOT" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@" \
    2> >(grep -v 'Attempted to remove disk file system' >&2)
}

case $cmd in
check)
  [ -f "$STAMP" ] && [ -x "$ROOT/lib/systemd/systemd" ]
  exit
  ;;
create)
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock 9
  if [ -f "$STAMP" ]; then
    echo "test_root.sh: $ROOT exists ($(cat "$STAMP"))"
    exit 0
  fi
  command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/bootstrap.sh)"
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn is not installed (systemd-container)"
  tmp=$ROOT.new
  rm -rf "$tmp"
  echo "test_root.sh: debootstrap $SUITE into $ROOT (minbase + $INCLUDE) from $MIRROR"
  start=$SECONDS
  if ! debootstrap --variant=minbase --include=$INCLUDE $SUITE "$tmp" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1; then
    tail -n 20 "$ROOT.debootstrap.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed (log: $ROOT.debootstrap.log)"
  fi
  # A machine id of its own (systemd's journal and units want one) and a quiet boot: no getty
  # on a console nobody reads, no time synchronisation (the host's clock is the container's).
  rm -f "$tmp/etc/machine-id"
  systemd-machine-id-setup --root="$tmp" >/dev/null
  echo vigil-test >"$tmp/etc/hostname"
  ROOT=$tmp in_root systemctl mask console-getty.service getty@tty1.service systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
  ROOT=$tmp in_root apt-get clean
  printf '%s minbase, made %s\n' "$SUITE" "$(date -u +%FT%TZ)" >"$tmp/.vigil-test-root"
  mv "$tmp" "$ROOT"
  echo "test_root.sh: $ROOT ready in $((SECONDS - start)) s ($(du -sh "$ROOT" | cut -f1))"
  ;;
deps)
  [ -f "$STAMP" ] || die "$ROOT was not made by 'test_root.sh create'"
  [ $# -gt 0 ] || die "deps: no .deb given"
  want=()
  for deb in "$@"; do
    # "a (>= 1), b | c, d:any" -> a b d: the first alternative of each, without versions.
    while read -r p; do
      [ -n "$p" ] && want+=("$p")
    done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g')
  done
  find_missing() {
    missing=()
    for p in "${want[@]}"; do
      dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
    done
  }
  find_missing
  [ ${#missing[@]} -eq 0 ] && exit 0
  exec 9>"$ROOT.lock"
  flock 9
  find_missing  # again: another test may have installed them while this one waited for the lock
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "test_root.sh: installing into $ROOT what the packages depend on: ${missing[*]}"
  in_root apt-get update -q >"$ROOT.apt.log" 2>&1 || { cat "$ROOT.apt.log" >&2; die "apt-get update in $ROOT failed"; }
  in_root apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$ROOT.apt.log" 2>&1 \
    || { tail -n 30 "$ROOT.apt.log" >&2; die "apt-get install ${missing[*]} in $ROOT failed"; }
  in_root apt-get clean
  ;;
*)
  die "unknown command $cmd"
  ;;
esac
