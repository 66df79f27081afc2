# Accounting per request with Cgroup::Pool: the same moves into a leased
# slot, its counters read before and after (a Cgroup::Usage).
$pool ||= Cgroup::Pool.new("#{$group}/lease", :cpuacct, :memory)
$pool.lease($worker_pid) {}.memory_peak
