#!/usr/bin/env bash
# Fail if the tests left anything on the host: QEMU processes, namespaces,
# namespace mounts, machine or snapshot directories of the test data directory.
# Only what belongs to that data directory counts, so a server the user runs
# beside the tests (scripts/setup.sh) is never mistaken for a leak.
set -uo pipefail
data="${NULLSPACE_DATA_DIR:?set NULLSPACE_DATA_DIR to the data directory the tests used}"
data=$(realpath -m "$data")
# What a runtime makes is named after its data directory (netns::owner_tag).
tag=$(printf %s "$data" | sha256sum | cut -c1-8)
bad=0
# The kernel keeps 15 characters of a process name: "qemu-system-x86". Zombies
# (exited VMMs adopted from an earlier server, awaiting PID 1) hold nothing.
live_qemu=""
for pid in $(pgrep -x qemu-system-x86); do
  state=$(sed -E 's/.*\) ([A-Z]).*/\1/' "/proc/$pid/stat" 2>/dev/null || echo gone)
  case "$state" in Z|X|gone) continue ;; esac
  if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$data/"; then
    live_qemu="$live_qemu $pid"
  fi
done
if [ -n "$live_qemu" ]; then
  echo "leak: qemu processes of $data:$live_qemu"; bad=1
fi
ours=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^nullspace-$tag-" | tr '\n' ' ')
if [ -n "$ours" ]; then
  echo "leak: namespaces of $data: $ours"; bad=1
fi
# The egress test's "outside" namespaces are the tests' alone.
outside=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^nstest-" | tr '\n' ' ')
if [ -n "$outside" ]; then
  echo "leak: test namespaces: $outside"; bad=1
fi
if grep -q "/run/netns/nullspace-$tag-" /proc/mounts; then
  echo "leak: namespace mounts of $data"; bad=1
fi
if [ -d "$data/machines" ] && [ -n "$(ls -A "$data/machines")" ]; then
  echo "leak: machine directories: $(ls "$data/machines" | tr '\n' ' ')"; bad=1
fi
if [ -d "$data/snapshots" ] && [ -n "$(ls -A "$data/snapshots")" ]; then
  echo "leak: snapshot directories: $(ls -A "$data/snapshots" | tr '\n' ' ')"; bad=1
fi
if [ "$bad" = 0 ]; then echo "no leaks: no QEMU process, namespace, mount, machine or snapshot directory of $data left"; fi
exit "$bad"
