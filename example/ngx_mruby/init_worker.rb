# mruby_init_worker: in each worker, already nobody.  Claim finds the
# delegated group from where the worker is (BASE/main) without moving
# anything.
$base = Cgroup.claim(:cpu, :cpuacct, :memory)

# Per request without a move: this worker moves once, now, into a group of
# its own (BASE/worker/0, /1, ...), and each request writes its limits into
# that group and restores them after.  A move per request waits for the
# kernel's RCU at a server's pace (milliseconds when requests come now and
# then: doc/speed.md); writing a limit does not.  cpuacct for /account's
# CPU time (on v2, and where v1 mounts cpu and cpuacct together, the cpu
# controller's own).
$worker = Cgroup::Worker.new("#{$base}/worker", cpu: {}, cpuacct: {}, memory: {})
CPU_LIMIT = { cpu: { cfs_quota_us: 50_000 } }.freeze # half a CPU while a request runs
CPU_MEMORY_LIMIT = { cpu: { cfs_quota_us: 50_000 }, memory: { allowance: 256 << 20 } }.freeze

# /shared, and the async examples: one group all requests share (a quota for
# all of them together), which needs a move per request.  The group is set
# up once (a second worker finds it made and writes the same limits).
$cpu = Cgroup::CPU.new("#{$base}/request")
$cpu.cfs_quota_us = 50_000 # half a CPU for all requests together
$cpu.create
