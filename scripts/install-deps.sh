#!/usr/bin/env bash
# Install the host packages Nullspace needs on Debian 12 (idempotent).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "run as root" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
need=()
for p in qemu-system-x86 qemu-utils debootstrap nftables iptables e2fsprogs zstd cpio xz-utils iproute2 procps curl python3 python3-venv tmux chromium wrk openssh-client docker-registry apache2-utils busybox-static openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null; then
  v=$(qemu-system-x86_64 --version | head -1 | sed -E 's/.*version ([0-9]+).*/\1/')
  [ "${v:-0}" -ge 9 ] && qemu_ok=1
fi
apt-get update -q
if [ "$qemu_ok" = 0 ]; then
  apt-get install -y -q -t bookworm-backports qemu-system-x86 qemu-utils
fi
if [ "${#need[@]}" -gt 0 ]; then
  apt-get install -y -q "${need[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "cargo (Rust) is required: install it with rustup" >&2
  exit 1
fi
