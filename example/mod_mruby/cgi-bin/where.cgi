#!/bin/sh
# Says which cpu group it was born in, after using ?ms= milliseconds of CPU
# time of its own (not of the clock: a loaded machine gives a CGI less CPU
# in a second, a throttled one none; a spin for CPU time is throttled by
# its host's quota whatever else runs).  No command in the loop: the
# shell's own ticks, from /proc, with builtins only.
ms=$(echo "${QUERY_STRING:-}" | sed -n 's/^ms=\([0-9]*\)$/\1/p')
used() { read -r stat < /proc/$$/stat; set -- $stat; shift 13; used=$(( $1 + $2 )); }
used
end=$(( used + ${ms:-0} * $(getconf CLK_TCK) / 1000 ))
while [ "$used" -lt "$end" ]; do
  i=0
  while [ "$i" -lt 1000 ]; do i=$(( i + 1 )); done
  used
done
printf 'Content-Type: text/plain\n\n'
sed -n 's/^[0-9]*:\(cpu,cpuacct\|cpu\|\):\(.*\)/\2/p' /proc/self/cgroup | head -1
