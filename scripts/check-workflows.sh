#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) with actionlint,
# built from its Go module by tests/tools/build.sh, which also runs shellcheck
# (the Debian package, installed here when missing) on every `run:` script.
#
#   scripts/check-workflows.sh
#
# Environment: OPRUN_TOOLS_BIN, the tools' bin dir (default: tests/tools/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi

tools="${OPRUN_TOOLS_BIN:-$(tests/tools/build.sh actionlint | tail -n 1)}"
workflows=(.github/workflows/*.yml)
"$tools/actionlint" -shellcheck "$(command -v shellcheck)" -no-color "${workflows[@]}"
echo "actionlint $("$tools/actionlint" -version | head -n 1): ${#workflows[@]} workflows clean" \
  "(shellcheck $(shellcheck --version | awk '/^version:/ { print $2 }'))"
