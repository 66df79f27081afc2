# One per-request cycle on the calling thread.
cpu = Cgroup::CPU.new("#{$group}/request")
cpu.cfs_quota_us = 20_000 + ($request % 10) * 1000
cpu.modify
cpu.attach
cpu.detach
