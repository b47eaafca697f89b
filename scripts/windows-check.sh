#!/usr/bin/env bash
# make windows-check: the cross-built Windows agent and its tests run under Wine (not part of
# `make test`; see docs/WINDOWS.md). Installs wine/wine64 when missing, builds the test binary,
# then: vigil-agent.exe --version, the unit tests (spool, wire framing, Windows capture), and the
# installer's refusal to install without /SERVER and /TOKEN; and, when a Linux build is there
# (LINUX_BIN, default build/bin), the agent under Wine enrolling with a real collector and
# uploading file events (scripts/windows-e2e.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-win}
need=()
for p in wine wine64; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
WINDOWS_TARGETS="vigil-agent vigil_windows_unit_tests" bash scripts/windows-build.sh "$BUILD"

export WINEPREFIX="$PWD/$BUILD/wineprefix" WINEDEBUG=-all WINEARCH=win64
WINE=wine  # Debian's wrapper runs 64-bit programs with wine64
[ -d "$WINEPREFIX" ] || "$WINE" wineboot --init >/dev/null 2>&1
fail=0
check() {  # name, command...
  local name=$1; shift
  if "$@"; then echo "windows-check: $name: ok"; else echo "windows-check: $name: FAILED"; fail=1; fi
}
version=$("$WINE" "$BUILD/cross/bin/vigil-agent.exe" --version | tr -d '\r')
check "vigil-agent.exe --version ($version)" test "$version" = "vigil-agent $(sed -nE 's/^project\(vigil VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)"
check "unit tests under Wine" "$WINE" "$BUILD/cross/bin/vigil_windows_unit_tests.exe"
setup=$(ls "$BUILD"/vigil-agent-setup-*.exe | head -1)
# A machine never enrolled (this prefix is the check's own; an earlier install keeps its data).
[ -x "$WINEPREFIX/drive_c/Program Files/Vigil/uninstall.exe" ] && "$WINE" "C:\\Program Files\\Vigil\\uninstall.exe" /S /PURGE >/dev/null 2>&1 || true
rm -rf "$WINEPREFIX/drive_c/ProgramData/Vigil"
rc=0; "$WINE" "$setup" /S >/dev/null 2>&1 || rc=$?
check "installer without /SERVER and /TOKEN exits 2 (got $rc)" test "$rc" = 2
LINUX_BIN=${LINUX_BIN:-build/bin}
if [ -x "$LINUX_BIN/vigil-collector" ] && [ -x "$LINUX_BIN/vigilctl" ]; then
  check "agent under Wine enrolls with a Linux collector and uploads file events" bash scripts/windows-e2e.sh "$BUILD" "$LINUX_BIN"
else
  echo "windows-check: end-to-end with a collector skipped: no $LINUX_BIN/vigil-collector (run make build first)"
fi
wineserver -k >/dev/null 2>&1 || true
[ $fail -eq 0 ] && echo "windows-check: passed" || { echo "windows-check: failed"; exit 1; }
