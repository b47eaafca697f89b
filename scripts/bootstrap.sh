#!/usr/bin/env bash
# Installs the Debian packages Vigil builds and tests with, only those missing.
# Idempotent; needs root (or sudo) the first time on a fresh machine.
set -euo pipefail
PKGS=(cmake ninja-build g++ pkg-config make python3 iproute2 procps
      libuv1-dev libboost1.81-dev libboost-json1.81-dev libmbedtls-dev libzstd-dev libsqlite3-dev
      catch2 libprotobuf-dev protobuf-compiler libcli11-dev libtomlplusplus-dev libhyperscan-dev
      e2fsprogs util-linux dosfstools exfatprogs exfat-fuse
      cups-daemon cups-client cups-bsd libcups2-dev nftables libnftables-dev libsystemd-dev dbus-daemon
      zip p7zip-full gcab zstd lz4 xz-utils bzip2 passwd
      rpm lintian rpmlint dpkg-dev fakeroot file init-system-helpers)  # make packages / packages-lint
PKGS+=(debootstrap systemd-container)  # make systemd-root / systemd-check: boot a Debian root under systemd-nspawn (docs/PACKAGING.md)
PKGS+=(libsodium-dev curl)  # auth: argon2id password hashes, HMAC-SHA256 pseudonyms; curl for the [roles] test
PKGS+=(rsyslog rsyslog-openssl)  # siem: a real TLS syslog receiver for tests/unit/test_siem.cpp
PKGS+=(libcurl4-openssl-dev python3-aiosmtpd)  # cases: SMTP notices via libcurl; a real SMTP receiver in [triage]
PKGS+=(g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix nsis tcl)  # make windows (docs/WINDOWS.md)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "bootstrap: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
