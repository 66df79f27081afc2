#!/bin/sh
# Says which cpu group it was born in, and burns CPU for ?ms= milliseconds.
ms=$(echo "${QUERY_STRING:-}" | sed -n 's/^ms=\([0-9]*\)$/\1/p')
end=$(( $(date +%s%N) / 1000000 + ${ms:-0} ))
while [ "$(( $(date +%s%N) / 1000000 ))" -lt "$end" ]; do :; done
printf 'Content-Type: text/plain\n\n'
sed -n 's/^[0-9]*:\(cpu,cpuacct\|cpu\|\):\(.*\)/\2/p' /proc/self/cgroup | head -1
