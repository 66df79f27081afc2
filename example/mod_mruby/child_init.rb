# mrubyChildInitMiddle: in each child, already www-data.  Claim finds the
# delegated group from where the child is (BASE/main) without moving
# anything.  The groups are made once per child (the next one finds them made
# and writes the same limits).  No Apache.log here either (see post_config.rb).
$base = Cgroup.claim(:cpu, :memory)

# the per-request groups: all requests share one CPU quota and memory limit.
# On v2 a threaded MPM (event, worker) moves a request's thread only if its
# group is threaded; memory cannot follow threads, so no memory group then.
THREADED_MPM = false # true with mpm_event or mpm_worker
$threaded = THREADED_MPM && Cgroup::CPU.new($base).version == 2
$cpu = Cgroup::CPU.new("#{$base}/request")
$cpu.cfs_quota_us = 50_000 # half a CPU for all requests together
$cpu.create
$cpu.threaded! if $threaded
unless $threaded
  $mem = Cgroup::MEMORY.new("#{$base}/request")
  $mem.limit_in_bytes = 256 << 20
  $mem.create
end

# per virtual host, the classic pattern: a group chosen by host name at
# fixups, left at log_transaction; CGIs forked by the request inherit it
$vhosts = {}
{ "heavy.example" => 10_000, "light.example" => 100_000 }.each do |host, quota|
  group = Cgroup::CPU.new("#{$base}/vhost-#{host}")
  group.cfs_quota_us = quota # of each 100 ms period
  group.create
  group.threaded! if $threaded
  $vhosts[host] = group.group_name
end
$per_thread = {} # vhost_fixups.rb: each thread's own objects
$attached = {}   # the group each thread's current request is in
$child = File.open("/proc/self/stat") { |f| f.read.split[0] }
$requests = 0
