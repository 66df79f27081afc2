# mrubyChildInitMiddle: in each child, already www-data.  Claim finds the
# delegated group from where the child is (BASE/main) without moving
# anything.  The groups are made once per child (the next one finds them made
# and writes the same limits).  No Apache.log here either (see post_config.rb).
$base = Cgroup.claim(:cpu, :cpuacct, :memory)

# On v2 a threaded MPM (event, worker) moves a request's thread only if its
# group is threaded, and a threaded group lives below its process: here
# below the leaf "main" the children sit in, which becomes the threaded
# subtree's root (threaded! before create makes them so).  Memory cannot
# follow threads: no memory group then.
THREADED_MPM = false # true with mpm_event or mpm_worker
$threaded = THREADED_MPM && Cgroup::CPU.new($base).version == 2
$groups = $threaded ? "#{$base}/main" : $base

def cpu_group(name, quota)
  group = Cgroup::CPU.new("#{$groups}/#{name}")
  group.cfs_quota_us = quota # of each 100 ms period
  group.threaded! if $threaded
  group.create
end

# Per request without a move (/cpu, /cpumem, /account): this child moves
# once, now, into a group of its own (BASE/worker/0, /1, ...), and each
# request writes its limits into that group and restores them after.  A
# move per request waits for the kernel's RCU at a server's pace
# (milliseconds when requests come now and then: doc/speed.md); writing a
# limit does not.  The group holds the whole child: under event (v1) a
# request's quota binds the child's other threads too while its handler
# runs (mod_mruby runs one script at a time per child).  A threaded MPM on
# v2 moves requests' threads instead (below): its threads' groups must lie
# in the threaded subtree of the leaf the children start in.
$worker = Cgroup::Worker.new("#{$base}/worker", cpu: {}, cpuacct: {}, memory: {}) unless $threaded
CPU_LIMIT = { cpu: { cfs_quota_us: 50_000 } }.freeze # half a CPU while a request runs
CPU_MEMORY_LIMIT = { cpu: { cfs_quota_us: 50_000 }, memory: { allowance: 256 << 20 } }.freeze

# The request's limits: in this child's own group, or (threaded on v2) by
# moving the request's thread into the shared request group.
def limited(limits, &block)
  $worker ? $worker.run(limits, &block) : Cgroup.with($cpu, &block)
end

# /where and a threaded MPM on v2: a group all requests share (one quota
# for all of them together), which needs a move per request
$cpu = cpu_group("request", 50_000) # half a CPU for all requests together

# per virtual host, the classic pattern: a group chosen by host name at
# fixups, left at log_transaction; CGIs forked by the request inherit it
$vhosts = {}
{ "heavy.example" => 10_000, "light.example" => 100_000 }.each do |host, quota|
  $vhosts[host] = cpu_group("vhost-#{host}", quota).group_name
end
$per_thread = {} # vhost_fixups.rb: each thread's own objects
$attached = {}   # the group each thread's current request is in
