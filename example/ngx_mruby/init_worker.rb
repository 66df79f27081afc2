# mruby_init_worker: in each worker, already nobody.  Claim finds the
# delegated group from where the worker is (BASE/main) without moving
# anything; the shared request group is set up once (a second worker finds
# it made and writes the same limits).
$base = Cgroup.claim(:cpu, :memory)
$cpu = Cgroup::CPU.new("#{$base}/request")
$cpu.cfs_quota_us = 50_000 # half a CPU for all requests together
$cpu.create
$mem = Cgroup::MEMORY.new("#{$base}/request")
$mem.limit_in_bytes = 256 << 20
$mem.create
$worker = File.open("/proc/self/stat") { |f| f.read.split[0] }
$requests = 0
