# At a server's pace: the calling thread leases a slot of a Cgroup::Pool
# (moves in and out, the slot's counters read).
Cgroup.warn_moves = false # the table shows what they cost; no warning in it
$pool ||= Cgroup::Pool.new("#{$group}/lease", :cpuacct, :memory)
$pool.lease {}.cpu_usec
