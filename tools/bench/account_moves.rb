# Accounting per request, the floor: the worker (a helper child) moved into
# a CPUACCT and a MEMORY group made once, and back; nothing read.
$moves ||= [Cgroup::CPUACCT, Cgroup::MEMORY].map { |c| c.new("#{$group}/moves").create }
$moves[0].attach($worker_pid) { $moves[1].attach($worker_pid) {} }
