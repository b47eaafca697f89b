#!/usr/bin/env bash
# RPM packages (CTest label `packaging`): builds vigil-agent and vigil-collector .rpms with cpack
# and checks what rpm itself reports about them: files at the RPM distributions' paths (units in
# /usr/lib/systemd/system), %config(noreplace) conffiles, automatic library requirements,
# scriptlets present and valid sh, and no directory owned by the `filesystem` package. This
# machine is Debian: the .rpms are not installed here (docs/PACKAGING.md).
# Exit 77 (skipped, loudly) without cpack, rpm or rpmbuild.
set -euo pipefail
# Pipes end in `grep ... >/dev/null`, not `grep -q`: -q stops reading, and the writer's SIGPIPE
# would fail the pipeline under pipefail.
BUILD=$(cd "${1:?usage: rpm_contents.sh BUILD_DIR}" && pwd)
skip() {
  printf '\n######## SKIPPED rpm packaging test: %s ########\n\n' "$*" >&2
  exit 77
}
for tool in cpack rpm rpmbuild; do command -v "$tool" >/dev/null || skip "$tool is not available"; done

T=$(mktemp -d /tmp/vigil-rpmtest.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

cpack --config "$BUILD/CPackConfig.cmake" -G RPM -B "$T" -D CPACK_OUTPUT_FILE_PREFIX="$T" >"$T/cpack.log" 2>&1 \
  || { cat "$T/cpack.log"; fail "cpack -G RPM"; }
AGENT=$(ls "$T"/vigil-agent-*.rpm)
COLL=$(ls "$T"/vigil-collector-*.rpm)

files() { rpm -qpl "$1"; }
has() { files "$1" | grep -x "$2" >/dev/null || fail "$(basename "$1") lacks $2"; }
for f in /usr/bin/vigil-agent /etc/vigil/agent.toml /usr/lib/systemd/system/vigil-agent.service \
         /usr/libexec/vigil/vigil-agent-enroll /usr/share/man/man8/vigil-agent.8.gz; do has "$AGENT" "$f"; done
for f in /usr/bin/vigil-collector /usr/bin/vigilctl /etc/vigil/collector.toml /etc/default/vigil-collector \
         /usr/lib/systemd/system/vigil-collector.service /usr/lib/sysusers.d/vigil-collector.conf; do has "$COLL" "$f"; done
for p in "$AGENT" "$COLL"; do
  if files "$p" | grep -E '^/lib(/|$)|^/usr/share/man$|^/usr/lib/systemd$|^/usr/libexec$|^/etc/default$'; then
    fail "$(basename "$p") owns a path that belongs to the filesystem package (above)"
  fi
done

# %config(noreplace): the fflags of the file are "cn".
conf() { rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$1" | awk -v f="$2" '$1==f {print $2}'; }
[ "$(conf "$AGENT" /etc/vigil/agent.toml)" = "cn" ] || fail "agent.toml is not %config(noreplace): $(conf "$AGENT" /etc/vigil/agent.toml)"
[ "$(conf "$COLL" /etc/vigil/collector.toml)" = "cn" ] || fail "collector.toml is not %config(noreplace)"
[ "$(conf "$COLL" /etc/default/vigil-collector)" = "cn" ] || fail "/etc/default/vigil-collector is not %config(noreplace)"

rpm -qpR "$AGENT" | grep '^libuv.so.1()(64bit)' >/dev/null || fail "vigil-agent does not require libuv.so.1"
rpm -qpR "$AGENT" | grep '^libcups.so.2()(64bit)' >/dev/null || fail "vigil-agent does not require libcups.so.2"
rpm -qpR "$COLL" | grep '^libsqlite3.so.0()(64bit)' >/dev/null || fail "vigil-collector does not require libsqlite3.so.0"
rpm -qpR "$COLL" | grep '^shadow-utils' >/dev/null || fail "vigil-collector does not require shadow-utils for %pre"
# rpmbuild makes every package with %config files require config(NAME) = VERSION; unless the
# package also provides it (AutoProv), rpm and dnf refuse to install it.
for p in "$AGENT" "$COLL"; do
  while read -r req; do
    rpm -qp --provides "$p" | grep -xF "$req" >/dev/null || fail "$(basename "$p") requires '$req' and does not provide it"
  done < <(rpm -qpR "$p" | grep '^config(')
done

for s in PREIN POSTIN PREUN POSTUN; do
  for p in "$AGENT" "$COLL"; do
    body=$(rpm -qp --qf "%{$s}" "$p")
    [ "$body" = "(none)" ] && continue
    sh -n <<<"$body" || fail "$(basename "$p") %$s is not valid sh"
  done
done
rpm -qp --qf '%{POSTIN}' "$AGENT" | grep vigil-agent-enroll >/dev/null || fail "vigil-agent %post does not enroll"
rpm -qp --qf '%{PREUN}' "$AGENT" | grep 'disable --now' >/dev/null || fail "vigil-agent %preun does not stop the agent"
rpm -qp --qf '%{PREIN}' "$COLL" | grep 'useradd' >/dev/null || fail "vigil-collector %pre does not create its user"
echo "PASS: rpm contents ($(basename "$AGENT"), $(basename "$COLL"))"
