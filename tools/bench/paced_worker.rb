# At a server's pace: the move-free path.  The process lives in its own
# group (one move, at the first request); per request the CPU quota is
# written and restored.
$worker ||= Cgroup::Worker.new("#{$group}/worker", cpu: { cfs_quota_us: 50_000 })
$worker.run {}
