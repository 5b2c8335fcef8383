#!/usr/bin/env bash
# Tests the Argo CD health check for OperationRun (docs/argocd/health.lua) with Lua 5.1,
# the dialect Argo CD runs (gopher-lua). Needs `lua5.1` on PATH (Debian package lua5.1);
# installs nothing. Exits non-zero on any mismatch.
#
# Fixtures: fixtures/examples.lua and fixtures/spec-cases.lua are generated from examples/
# and controller/tests/spec-cases/ by gen-fixtures.py (committed, not regenerated here);
# fixtures/cases.lua is written by hand.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
health="$root/docs/argocd/health.lua"
fixtures=("$here/fixtures/examples.lua" "$here/fixtures/spec-cases.lua" "$here/fixtures/cases.lua")

if ! command -v lua5.1 >/dev/null 2>&1; then
  echo "tests/argocd/run.sh: lua5.1 not found on PATH (Debian: apt-get install lua5.1)" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== the argocd-cm snippet embeds docs/argocd/health.lua unchanged"
key='  resource.customizations.health.ops.tenantatlas.io_OperationRun: |'
awk -v key="$key" 'found { sub(/^    /, ""); print; next } $0 == key { found = 1 }' \
  "$root/docs/argocd/argocd-cm.yaml" >"$tmp/from-cm.lua"
if ! diff -u "$health" "$tmp/from-cm.lua"; then
  echo "FAIL docs/argocd/argocd-cm.yaml differs from docs/argocd/health.lua" >&2
  exit 1
fi

echo "== docs/troubleshooting.md lists exactly the reasons the fixtures cover, next actions < 80 chars"
awk '/<!-- next-actions:begin -->/ { on = 1; next } /<!-- next-actions:end -->/ { on = 0 } on' \
  "$root/docs/troubleshooting.md" | tail -n +3 >"$tmp/table.md"
awk -F'|' '{ r = $2; gsub(/[ `]/, "", r); print r }' "$tmp/table.md" | sort >"$tmp/documented"
printf '%s\n' UnsupportedFamily InvalidRun AmbiguousEvidence Succeeded PartiallySucceeded Blocked \
  Failed ScopeMismatch InvalidEvidence AwaitingEvidence Abandoned \
  QueuedTooLong HeartbeatExpired Resumed WorkerCompleted | sort >"$tmp/expected"
if ! diff -u "$tmp/expected" "$tmp/documented"; then
  echo "FAIL the reasons in docs/troubleshooting.md differ from those tests/argocd/test.lua covers" >&2
  exit 1
fi
long=$(awk -F'|' '{ a = $4; gsub(/^ +| +$/, "", a); if (length(a) >= 80 || a == "") print }' "$tmp/table.md")
if [ -n "$long" ]; then
  echo "FAIL next actions must be 1-79 characters:" >&2
  echo "$long" >&2
  exit 1
fi

echo "== docs/argocd/health.lua against every fixture"
lua5.1 "$here/test.lua" "$health" "${fixtures[@]}"

echo "== the same script as extracted from argocd-cm.yaml"
lua5.1 "$here/test.lua" "$tmp/from-cm.lua" "${fixtures[@]}" >/dev/null

echo "== the test notices a wrong mapping"
sed 's/PartiallySucceeded = "Degraded"/PartiallySucceeded = "Healthy"/' "$health" >"$tmp/broken.lua"
if cmp -s "$health" "$tmp/broken.lua"; then
  echo "FAIL could not build a broken copy of the health check" >&2
  exit 1
fi
if lua5.1 "$here/test.lua" "$tmp/broken.lua" "${fixtures[@]}" >/dev/null; then
  echo "FAIL a health check mapping PartiallySucceeded to Healthy passed the test" >&2
  exit 1
fi
echo "ok"
