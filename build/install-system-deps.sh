#!/usr/bin/env bash
# Installs the Debian packages the test suite and the Linux build need, when missing.
# Xvfb for the real window, Chromium for the browser tests, ffmpeg for Stash-exact video
# phashes, ImageMagick for screenshots, binutils (readelf, strip) for the PyInstaller build,
# and the xcb libraries Qt WebEngine loads.
set -euo pipefail
packages=(xvfb chromium ffmpeg imagemagick xdotool x11-utils binutils libegl1 libgl1 libnss3
  libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxkbcommon-x11-0 libxcb-xinerama0 libxcb-xkb1 libxcb-randr0 libxcb-shape0)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "Missing system packages (install them by hand): ${missing[*]}" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "Installing system packages: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
