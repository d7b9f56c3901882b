#!/usr/bin/env bash
# infra/local/chromium.sh — make sure a headless browser and its WebDriver are installed.
#
# Usage: infra/local/chromium.sh
#
# Browser-driving tests expect /usr/bin/chromium and /usr/bin/chromedriver. This machine
# cannot download a browser build of its own (no internet besides the package registries),
# so we take Debian's packages `chromium` and `chromium-driver`, which keep the browser and
# the driver at the same version. Safe to run repeatedly: it installs only what is missing.
set -euo pipefail

log() { echo "chromium: $*" >&2; }

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; then
  log "already installed"
else
  # apt-get needs root; use sudo only when we are not root and it is available.
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      log "error: not root and no sudo: install the Debian packages chromium and chromium-driver"
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  install() {
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
  }
  log "installing Debian packages chromium and chromium-driver (first run only, ~1 min)…"
  # A fresh machine may have no package lists yet (install fails with "Unable to locate
  # package"); refresh them once and retry rather than asking the caller to.
  if ! install; then
    log "install failed; refreshing package lists (apt-get update) and retrying…"
    "${SUDO[@]}" apt-get update -q >/dev/null
    install
  fi
fi

for bin in "$CHROMIUM" "$CHROMEDRIVER"; do
  if [[ ! -x $bin ]]; then
    log "error: $bin is still missing after the install"
    exit 1
  fi
done

# Print both versions: they must match for chromedriver to drive the browser.
# (stderr dropped: Debian's /etc/chromium.d/dev-shm snippet prints a harmless
# "[: …: unexpected operator" when findmnt reports /dev/shm twice.)
"$CHROMIUM" --version 2>/dev/null
"$CHROMEDRIVER" --version
