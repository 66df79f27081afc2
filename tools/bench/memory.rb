# One per-request cycle on the worker (a helper child).
mem = Cgroup::MEMORY.new("#{$group}/request")
mem.limit_in_bytes = (256 << 20) + ($request % 16) * 4096
mem.modify
mem.attach($worker_pid)
mem.detach
