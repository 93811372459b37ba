#!/usr/bin/env bash
# Installs the Debian packages nianbao's features need, where they are missing.
# Other machines: install the same packages with your package manager (see README).
set -euo pipefail
need=()
while read -r pkg probe; do
  [ -z "$pkg" ] && continue
  # each probe runs in its own shell without pipefail: `… | grep -q` must not fail on SIGPIPE
  if ! bash -c "$probe" >/dev/null 2>&1; then need+=("$pkg"); fi
done <<'LIST'
libreoffice-writer command -v soffice
fonts-noto-cjk fc-list | grep -qi "Noto Sans CJK"
libpango-1.0-0 ldconfig -p | grep -q "libpango-1.0.so.0"
libpangoft2-1.0-0 ldconfig -p | grep -q "libpangoft2-1.0.so.0"
libharfbuzz-subset0 ldconfig -p | grep -q "libharfbuzz-subset.so.0"
poppler-utils command -v pdftoppm
chromium command -v chromium
LIST
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "nianbao: missing system packages: ${need[*]} (install them as root; see README)" >&2
  exit 1
fi
echo "nianbao: installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
