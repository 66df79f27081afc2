# At a server's pace: Cgroup.with into a shared CPU and a MEMORY group (four
# moves on v1, two on v2, where both are one directory).
Cgroup.warn_moves = false # the table shows what they cost; no warning in it
unless $cpu
  $cpu = Cgroup::CPU.new("#{$group}/request")
  $cpu.cfs_quota_us = 50_000
  $cpu.create
  $mem = Cgroup::MEMORY.new("#{$group}/request")
  $mem.limit_in_bytes = 256 << 20
  $mem.create
end
Cgroup.with($cpu, $mem) {}
