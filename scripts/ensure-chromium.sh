#!/usr/bin/env bash
# Makes sure a Chromium for the browser tests exists; prints its path.
#
# CHROMIUM_PATH wins; else an installed chromium / chrome; else, as root on Debian/Ubuntu (CI),
# Debian's `chromium` package is installed with apt-get. Anywhere else it says what to install.
set -euo pipefail

if [[ -n "${CHROMIUM_PATH:-}" ]]; then
    [[ -x "$CHROMIUM_PATH" ]] || { echo "ensure-chromium: CHROMIUM_PATH=$CHROMIUM_PATH is not executable" >&2; exit 1; }
    echo "$CHROMIUM_PATH"
    exit 0
fi
for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome /usr/bin/google-chrome-stable; do
    if [[ -x "$candidate" ]]; then
        echo "$candidate"
        exit 0
    fi
done
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "ensure-chromium: installing Debian's chromium with apt-get (once)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
    echo /usr/bin/chromium
    exit 0
fi
echo "ensure-chromium: the browser tests need Chromium or Chrome: install it (Debian/Ubuntu: apt-get install chromium; macOS: Google Chrome) or set CHROMIUM_PATH" >&2
exit 1
