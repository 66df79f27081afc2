# At a server's pace: the move-free path with a CPU quota and a memory
# allowance (the level read, the limit written, both restored).
$worker ||= Cgroup::Worker.new("#{$group}/worker", cpu: { cfs_quota_us: 50_000 }, memory: { allowance: 64 << 20 })
$worker.run {}
