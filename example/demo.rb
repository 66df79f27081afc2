# mruby-cgroup demo: a memory limit enforced on a command run in a group.
#
#   build/host/bin/mruby example/demo.rb [path/to/mruby [group]]
#
# Makes memory group /mruby-cgroup-demo with a 32 MiB limit and no swap,
# runs a child mruby that allocates without end inside it (Cgroup::MEMORY#
# spawn: the child joins the group before it execs, like cgexec), and shows
# the kernel's OOM killer stop it there.  Works on cgroup v1 and v2.  Prints
# the child's status and the group's counters; exits 0 when the limit held.

mruby = ARGV[0] || "mruby"
limit = 32 << 20

group = Cgroup::MEMORY.new(ARGV[1] || "/mruby-cgroup-demo")
group.delete if group.exist? # left over from an interrupted run
group.limit_in_bytes = limit
if group.version == 2
  group.memsw_limit_in_bytes = limit # memory.swap.max = 0: no escape into swap
else
  group.swappiness = 0
end
group.create
puts "created memory:#{group.group_name} (cgroup v#{group.version}), limit_in_bytes = #{group.limit_in_bytes}"

begin
  pid = group.spawn(mruby, "-e", 'a = []; loop { a << ("x" * (1 << 20)) }')
  puts "child #{pid} runs in #{group.group_name}"
  status = Cgroup.wait(pid)
  puts "child ended: #{status.inspect}"

  counters = {
    "limit_in_bytes" => group.limit_in_bytes,
    "max_usage_in_bytes" => group.max_usage_in_bytes,
    "events max" => group.events["max"],
    "events oom_kill" => group.events["oom_kill"],
    "stat anon" => group.stat["anon"],
  }
  counters.each { |name, value| puts "  %-20s %d" % [name, value] }

  # an uncaught exception makes mruby exit non-zero
  raise "FAILED: the child was not stopped by the OOM killer" unless status.oom_killed?
  raise "FAILED: the group used more than its limit" unless group.max_usage_in_bytes <= limit
  puts "OK: the kernel's OOM killer stopped the child inside #{group.group_name}"
ensure
  group.delete if group.exist?
end
