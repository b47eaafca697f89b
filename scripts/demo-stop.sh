#!/usr/bin/env bash
# Stops what `make demo` started.
ROOT=$(pwd)/demo-data
for p in agent collector; do
  if [ -f "$ROOT/$p.pid" ]; then
    kill "$(cat "$ROOT/$p.pid")" 2>/dev/null && echo "stopped $p"
    rm -f "$ROOT/$p.pid"
  fi
done
if [ -f "$ROOT/stick.loop" ]; then
  umount "$ROOT/media/STICK" 2>/dev/null
  losetup -d "$(cat "$ROOT/stick.loop")" 2>/dev/null && echo "detached the demo stick"
  rm -f "$ROOT/stick.loop"
fi
