# A delegated service's per-request limits and per-request accounting, the
# way a systemd service with Delegate=yes (or any process in a group handed
# to its user) does them.  doc/systemd.md.
#
#   build/host/bin/mruby example/service.rb [requests]
#
# Claims the group it was started in (Cgroup.claim: this process moves to
# its "main" leaf, cpu and memory are enabled), makes one shared "request"
# group with a CPU quota and a memory limit, runs each request in it with
# Cgroup.with, then runs one request in a slot leased from a Cgroup::Pool to
# read what it cost, and removes its groups.  Prints where it is at each step; exits 0
# when every request ended back in the leaf.

requests = (ARGV[0] || 3).to_i
base = Cgroup.claim(:cpu, :memory)
home = Cgroup.current_path(:memory)
puts "claimed #{base}; this process is in #{home}"

# set once at start-up: every request attached to it shares this quota and limit
cpu = Cgroup::CPU.new("#{base}/request")
cpu.cfs_quota_us = 50_000
cpu.create
mem = Cgroup::MEMORY.new("#{base}/request")
mem.limit_in_bytes = 64 << 20
mem.create

back_home = 0
requests.times do |i|
  inside = Cgroup.with(cpu, mem) { Cgroup.current_path(:memory) }
  now = Cgroup.current_path(:memory)
  back_home += 1 if now == home
  puts "request #{i}: ran in #{inside}, back in #{now}"
end

# accounting per request: a slot of a pool (made once, leased to one request
# at a time), what the request used read from it
pool = Cgroup::Pool.new("#{base}/lease", :memory)
usage = pool.lease { "x" * (8 << 20) } # 8 MiB charged while the request ran
puts "request #{requests}: peak #{usage.memory_peak >= 8 << 20 ? '>= 8 MiB' : 'below 8 MiB'} in #{usage.slot}"
pool.close
[Cgroup::MEMORY.new("#{base}/lease"), mem, cpu].each { |g| g.delete if g.exist? } # v2: mem and cpu are one directory
back_home += 1 if Cgroup.current_path(:memory) == home
puts "#{back_home} of #{requests + 1} back in #{home}"
raise "a request did not end in #{home}" unless back_home == requests + 1
