#!/usr/bin/env bash
# `make demo`: a collector (SQLite under ./demo-data) and an enrolled agent on this machine,
# real file activity, and what the collector recorded. Both keep running afterwards so you can
# query them; `make demo-stop` stops them.
set -euo pipefail
BIN=$(cd "${1:-build/bin}" && pwd)
ROOT=$(pwd)/demo-data
WORK=$ROOT/workspace
[ "$(id -u)" -eq 0 ] || { echo "demo: the agent's fanotify capture needs root (CAP_SYS_ADMIN); run as root" >&2; exit 2; }

if [ -f "$ROOT/collector.pid" ] || [ -f "$ROOT/agent.pid" ] || [ -f "$ROOT/stick.loop" ]; then
  bash "$(dirname "$0")/demo-stop.sh" >/dev/null 2>&1 || true
fi
rm -rf "$ROOT"
mkdir -p "$ROOT" "$WORK"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Initialise the collector (CA, server certificate, admin token, SQLite database)"
"$BIN/vigil-collector" init --data-dir "$ROOT/collector" | sed 's/^/   /'

say "2. Start the collector (agents on 127.0.0.1:7443, API on https://127.0.0.1:8443)"
"$BIN/vigil-collector" run --data-dir "$ROOT/collector" >"$ROOT/collector.log" 2>&1 &
echo $! >"$ROOT/collector.pid"
for _ in $(seq 1 100); do
  ss -ltn | grep -q ':8443 ' && ss -ltn | grep -q ':7443 ' && break
  sleep 0.1
done
ss -ltn | grep -q ':8443 ' || { echo "collector did not start:"; cat "$ROOT/collector.log"; exit 1; }

export VIGIL_SERVER=https://127.0.0.1:8443 VIGIL_CA=$ROOT/collector/ca.pem VIGIL_TOKEN=$(cat "$ROOT/collector/admin.token")
say "3. Mint a one-time enrollment token and enroll an agent (its key is generated locally)"
TOKEN=$("$BIN/vigilctl" enroll-token create --uses 1 --ttl 1h --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])')
"$BIN/vigil-agent" enroll --server 127.0.0.1:7443 --token "$TOKEN" --ca "$ROOT/collector/ca.pem" --data-dir "$ROOT/agent" | sed 's/^/   /'

# No USB bus here: a loop device stands in for a USB stick (docs/REMOVABLE_MEDIA.md).
sed -i 's|^removable_devices = .*|removable_devices = ["/dev/loop*"]|' "$ROOT/agent/agent.toml"
STICK=$ROOT/media/STICK
mkdir -p "$STICK"

say "4. Run the agent, watching $WORK and $ROOT/media"
"$BIN/vigil-agent" run --data-dir "$ROOT/agent" --watch "$WORK" --watch "$ROOT/media" >"$ROOT/agent.log" 2>&1 &
echo $! >"$ROOT/agent.pid"
sleep 1.5

say "5. Real file activity: create, write, rename, delete"
mkdir -p "$WORK/project"
for i in 1 2 3 4 5; do echo "quarterly figures $i" >"$WORK/project/report-$i.txt"; done
cp "$WORK/project/report-1.txt" "$WORK/project/report-1-copy.txt"
mv "$WORK/project/report-2.txt" "$WORK/project/renamed.txt"
rm "$WORK/project/report-3.txt"
tar -cf "$WORK/project.tar" -C "$WORK" project
echo "   10 operations done"

say "6. A DLP rule and a policy: card numbers leaving on removable media are a high-severity match"
cat >"$ROOT/dlp-cards.json" <<'JSON'
{"name": "cards to removable media", "info_types": {"credit_card": 1}, "channels": ["removable"], "severity": "high"}
JSON
cat >"$ROOT/policy-leaks.json" <<'JSON'
{"name": "General data leaks", "template": "general_data_leaks", "min_risk_threshold": 15}
JSON
"$BIN/vigilctl" dlp-rules create "$ROOT/dlp-cards.json" | sed 's/^/   /'
"$BIN/vigilctl" policies create "$ROOT/policy-leaks.json" | sed 's/^/   /'

say "7. A 'USB stick' (ext4 on a loop device, marked removable) gets a copy of sensitive files"
LOOP=""
if command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null; then
  truncate -s 64M "$ROOT/stick.img"
  mkfs.ext4 -q -F -L STICK "$ROOT/stick.img"
  LOOP=$(losetup -f --show "$ROOT/stick.img" 2>/dev/null || true)
fi
if [ -n "$LOOP" ] && mount "$LOOP" "$STICK" 2>/dev/null; then
  echo "$LOOP" >"$ROOT/stick.loop"
  sleep 1
  printf 'Customer payments\ncard: 4111 1111 1111 1111\ncard: 5500 0000 0000 0004\n' >"$WORK/project/customers.csv"
  cp "$WORK/project/customers.csv" "$STICK/"
  printf '%%PDF-1.4\n%%fake but typed by content\n' >"$WORK/project/board-minutes.pdf"
  cp "$WORK/project/board-minutes.pdf" "$STICK/holiday-notes.txt"
  tar -czf "$STICK/project.tgz" -C "$WORK" project
  echo "   copied customers.csv, a PDF renamed .txt, and a tar.gz onto $STICK"
else
  echo "   skipped: no loop device or mount here"
fi
sleep 3

say "8. What the collector recorded"
"$BIN/vigilctl" events --limit 60
say "   Exfiltration, archives and disguised files the agent derived"
"$BIN/vigilctl" events --type exfil. --limit 20
"$BIN/vigilctl" events --type file.archive_created --limit 5
"$BIN/vigilctl" events --type file.extension_mismatch --limit 5
say "9. Alerts the policy raised, with the reasons for each score"
"$BIN/vigilctl" alerts list
FIRST_ALERT=$("$BIN/vigilctl" alerts list --json | python3 -c 'import json,sys
for l in sys.stdin:
    print(json.loads(l)["id"]); break' || true)
[ -n "$FIRST_ALERT" ] && "$BIN/vigilctl" alerts show "$FIRST_ALERT"
say "   Devices"
"$BIN/vigilctl" devices

cat <<MSG

== Query it yourself (the collector and agent keep running):
   export VIGIL_SERVER=$VIGIL_SERVER VIGIL_CA=$VIGIL_CA VIGIL_TOKEN=\$(cat $ROOT/collector/admin.token)
   $BIN/vigilctl events --type file.rename
   $BIN/vigilctl events --path '$WORK/project/*' --since 1h --json
   $BIN/vigilctl devices --json
   $BIN/vigilctl events --type exfil.removable --json
   $BIN/vigilctl alerts list;  $BIN/vigilctl users --in-scope;  $BIN/vigilctl policies list
   Logs: $ROOT/collector.log  $ROOT/agent.log
   Stop both: make demo-stop
MSG
