# Runs for every request: this worker thread gets a CPU quota, the worker
# process ($worker_pid) a memory limit, for the request's duration.
cpu = Cgroup::CPU.new("#{$group}/request")
cpu.cfs_quota_us = 20_000 + ($request % 10) * 1000
cpu.modify
mem = Cgroup::MEMORY.new("#{$group}/request")
mem.limit_in_bytes = 256 << 20
mem.modify
cpu.attach
mem.attach($worker_pid)
begin
  # ... the request is handled here ...
ensure
  mem.detach
  cpu.detach
end
