# At a server's pace: the move-free path with its accounting: the quota and
# allowance written and restored, the counters read before and after.
$worker ||= Cgroup::Worker.new("#{$group}/worker", cpu: { cfs_quota_us: 50_000 }, cpuacct: {},
                               memory: { allowance: 64 << 20 })
$worker.account {}.cpu_usec
