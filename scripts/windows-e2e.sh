#!/usr/bin/env bash
# Part of `make windows-check`: the Windows agent (under Wine) enrolls with a real Linux collector
# (LINUX_BIN: vigil-collector and vigilctl from `make build`) over mutual TLS on loopback, captures
# a file being written, renamed and deleted in a watched folder, and the collector has the events.
# Usage: windows-e2e.sh WIN_BUILD LINUX_BIN
set -euo pipefail
WIN=$(cd "$1" && pwd)
BIN=$(cd "$2" && pwd)
export WINEPREFIX="$WIN/wineprefix" WINEDEBUG=-all
T=$(mktemp -d /tmp/vigil-win-e2e.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T" "$WINEPREFIX/drive_c/vigil-e2e" "$WINEPREFIX/drive_c/vigil-e2e-work"; }
trap cleanup EXIT
read -r INGEST API < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
"$BIN/vigil-collector" init --data-dir "$T/col" >/dev/null
sed -i "s/127.0.0.1:7443/127.0.0.1:$INGEST/; s/127.0.0.1:8443/127.0.0.1:$API/" "$T/col/collector.toml"
"$BIN/vigil-collector" run --data-dir "$T/col" >"$T/collector.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do ss -ltn | grep -q ":$API " && break; sleep 0.1; done
export VIGIL_SERVER=https://127.0.0.1:$API VIGIL_CA=$T/col/ca.pem VIGIL_TOKEN=$(cat "$T/col/admin.token")
TOKEN=$("$BIN/vigilctl" enroll-token create --uses 1 --ttl 1h --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])')
cp "$T/col/ca.pem" "$WINEPREFIX/drive_c/vigil-e2e-ca.pem"
rm -rf "$WINEPREFIX/drive_c/vigil-e2e"
wine "$WIN/cross/bin/vigil-agent.exe" enroll --server "127.0.0.1:$INGEST" --token "$TOKEN" \
  --ca 'C:\vigil-e2e-ca.pem' --data-dir 'C:\vigil-e2e' | tr -d '\r'
W="$WINEPREFIX/drive_c/vigil-e2e-work"
mkdir -p "$W"
wine "$WIN/cross/bin/vigil-agent.exe" run --data-dir 'C:\vigil-e2e' --watch 'C:\vigil-e2e-work' >"$T/agent.log" 2>&1 &
PIDS+=($!)
# The agent is ready once the collector has seen it (Hello after the TLS handshake).
for _ in $(seq 1 60); do "$BIN/vigilctl" devices 2>/dev/null | grep -q ' active .*Z ' && break; sleep 0.5; done
echo "quarterly figures" >"$W/report.txt"; sleep 1
mv "$W/report.txt" "$W/renamed.txt"; sleep 1
rm "$W/renamed.txt"
for _ in $(seq 1 40); do
  "$BIN/vigilctl" events --limit 50 >"$T/events.txt" || { echo "collector:"; cat "$T/collector.log"; exit 1; }
  grep -q 'file.delete.*C:/vigil-e2e-work/renamed.txt' "$T/events.txt" && break
  sleep 0.5
done
cat "$T/events.txt"
grep -q 'file.rename.*C:/vigil-e2e-work/report.txt -> C:/vigil-e2e-work/renamed.txt' "$T/events.txt"
grep -q 'file.delete.*C:/vigil-e2e-work/renamed.txt' "$T/events.txt"
wineserver -k >/dev/null 2>&1 || true
