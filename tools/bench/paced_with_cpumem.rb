# At a server's pace: Cgroup.with into a shared CPU and a MEMORY group (four
# moves on v1, two on v2, where both are one directory).
$cpu ||= Cgroup::CPU.new("#{$group}/request").tap { |g| g.cfs_quota_us = 50_000; g.create }
$mem ||= Cgroup::MEMORY.new("#{$group}/request").tap { |g| g.limit_in_bytes = 256 << 20; g.create }
Cgroup.with($cpu, $mem) {}
