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

# the per-request groups: all requests share one CPU quota and memory limit
$cpu = cpu_group("request", 50_000) # half a CPU for all requests together
unless $threaded
  $mem = Cgroup::MEMORY.new("#{$base}/request")
  $mem.limit_in_bytes = 256 << 20
  $mem.create
  # /account: groups leased to one request at a time (Cgroup::Pool)
  $pool = Cgroup::Pool.new("#{$base}/lease", :cpuacct, :memory)
end

# per virtual host, the classic pattern: a group chosen by host name at
# fixups, left at log_transaction; CGIs forked by the request inherit it
$vhosts = {}
{ "heavy.example" => 10_000, "light.example" => 100_000 }.each do |host, quota|
  $vhosts[host] = cpu_group("vhost-#{host}", quota).group_name
end
$per_thread = {} # vhost_fixups.rb: each thread's own objects
$attached = {}   # the group each thread's current request is in
