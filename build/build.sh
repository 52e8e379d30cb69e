#!/usr/bin/env bash
# Builds the Linux executable with the project's venv and prints its size and build time.
#   build/build.sh            one file:   dist/stash-dedupe
#   build/build.sh --onedir   a folder:   dist/onedir/stash-dedupe/stash-dedupe
set -euo pipefail
cd "$(dirname "$0")/.."

distpath=dist
spec_args=()
case "${1:-}" in
  "") ;;
  --onedir) distpath=dist/onedir; spec_args=(-- --onedir) ;;
  *) echo "usage: build/build.sh [--onedir]" >&2; exit 2 ;;
esac

started=$SECONDS
"${PYINSTALLER:-.venv/bin/pyinstaller}" --noconfirm --log-level WARN \
  --distpath "$distpath" --workpath build/work build/stash-dedupe.spec "${spec_args[@]}"
built="$distpath/stash-dedupe"
executable=$built
[ -d "$built" ] && executable="$built/stash-dedupe"
touch "$executable"  # PyInstaller keeps an unchanged executable's old time: mark this build
echo "Built $built in $((SECONDS - started)) s: $(du -sh --apparent-size "$built" | cut -f1)"
