#!/usr/bin/env bash
# Fail if anything of ours is left on the host: QEMU processes, namespaces,
# veth/tap devices, mounts, machine or snapshot directories.
set -uo pipefail
data="${NULLSPACE_DATA_DIR:-/var/lib/nullspace}"
bad=0
# The kernel keeps 15 characters of a process name: "qemu-system-x86". Zombies
# (exited VMMs adopted from an earlier server, awaiting PID 1) hold nothing.
live_qemu=""
for pid in $(pgrep -x qemu-system-x86); do
  state=$(sed -E 's/.*\) ([A-Z]).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo gone)
  case "$state" in Z|X|gone) ;; *) live_qemu="$live_qemu $pid" ;; esac
done
if [ -n "$live_qemu" ]; then
  echo "leak: qemu processes:$live_qemu"; bad=1
fi
if ip netns list 2>/dev/null | grep -q '^nullspace-'; then
  echo "leak: namespaces: $(ip netns list | grep '^nullspace-' | tr '\n' ' ')"; bad=1
fi
if ip -o link show 2>/dev/null | grep -qE ': nsv[0-9]+'; then
  echo "leak: veth devices: $(ip -o link show | grep -oE 'nsv[0-9]+' | tr '\n' ' ')"; bad=1
fi
if grep -q "/run/netns/nullspace-" /proc/mounts; then
  echo "leak: namespace mounts"; bad=1
fi
if [ -d "$data/machines" ] && [ -n "$(ls -A "$data/machines")" ]; then
  echo "leak: machine directories: $(ls "$data/machines" | tr '\n' ' ')"; bad=1
fi
if [ -d "$data/snapshots" ] && [ -n "$(ls -A "$data/snapshots")" ]; then
  echo "leak: snapshot directories: $(ls -A "$data/snapshots" | tr '\n' ' ')"; bad=1
fi
if [ "$bad" = 0 ]; then echo "no leaks: no QEMU process, namespace, veth, mount, machine or snapshot directory left"; fi
exit "$bad"
