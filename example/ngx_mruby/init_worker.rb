# mruby_init_worker: in each worker, already nobody.  Claim finds the
# delegated group from where the worker is (BASE/main) without moving
# anything; the shared request group is set up once (a second worker finds
# it made and writes the same limits).
$base = Cgroup.claim(:cpu, :cpuacct, :memory)
$cpu = Cgroup::CPU.new("#{$base}/request")
$cpu.cfs_quota_us = 50_000 # half a CPU for all requests together
$cpu.create
$mem = Cgroup::MEMORY.new("#{$base}/request")
$mem.limit_in_bytes = 256 << 20
$mem.create
# /account: groups leased to one request at a time (Cgroup::Pool); this
# worker takes its own on first use and keeps them.
$pool = Cgroup::Pool.new("#{$base}/lease", :cpuacct, :memory)
