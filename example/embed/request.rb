# Runs for every request: the worker (this process) gets a CPU quota and a
# memory limit for the request's duration.  attach writes the staged values
# before it moves anything, and Cgroup.with moves the worker back to where it
# was, last group first, even when the request raises.
cpu = Cgroup::CPU.new("#{$group}/request")
cpu.cfs_quota_us = 20_000 + ($request % 10) * 1000
mem = Cgroup::MEMORY.new("#{$group}/request")
mem.limit_in_bytes = 256 << 20
Cgroup.with(cpu, mem) do
  # ... the request is handled here ...
end
