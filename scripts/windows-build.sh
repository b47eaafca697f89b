#!/usr/bin/env bash
# make windows: the Windows agent cross-built with mingw-w64 and its NSIS installer.
#   BUILD/deps                    dependency sources (Debian source packages; scripts/windows-deps.sh)
#   BUILD/cross                   the CMake build (cmake/toolchain-mingw64.cmake)
#   BUILD/vigil-agent-setup-VERSION.exe   the installer
# Builds only what the installer needs (vigil-agent.exe); `make windows-check` adds the tests.
# Extra ninja targets: WINDOWS_TARGETS="vigil-agent vigil_windows_unit_tests".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-win}
TARGETS=${WINDOWS_TARGETS:-vigil-agent}
JOBS=${JOBS:-$(nproc)}
bash scripts/bootstrap.sh
start=$(date +%s)
bash scripts/windows-deps.sh "$BUILD/deps"
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD/cross" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw64.cmake \
  -DCMAKE_BUILD_TYPE=Release -DVIGIL_WERROR=ON -DVIGIL_WITH_HYPERSCAN=OFF \
  -DVIGIL_WIN_DEPS="$PWD/$BUILD/deps" "${LAUNCHER[@]}" >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD/cross" -j "$JOBS" --target $TARGETS
x86_64-w64-mingw32-strip -o "$BUILD/vigil-agent.exe" "$BUILD/cross/bin/vigil-agent.exe"
VERSION=$(sed -nE 's/^project\(vigil VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
makensis -V2 -WX -DVERSION="$VERSION" -DAGENT_EXE="$PWD/$BUILD/vigil-agent.exe" \
  -DOUTFILE="$PWD/$BUILD/vigil-agent-setup-$VERSION.exe" installers/windows/vigil-agent.nsi
echo "windows: $BUILD/vigil-agent-setup-$VERSION.exe ($(( $(date +%s) - start )) s)"
