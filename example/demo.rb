# mruby-cgroup demo: a memory limit enforced on a child process.
#
#   build/host/bin/mruby example/demo.rb [path/to/mruby]
#
# Makes memory group /mruby-cgroup-demo with a 32 MiB limit, starts a child
# mruby that allocates without end, attaches the child (never this process)
# to the group, and shows the kernel's OOM killer stop it inside the group.
# Prints the group's counters; exits 0 when the limit was enforced.

mruby = ARGV[0] || "mruby"
limit = 32 << 20

group = Cgroup::MEMORY.new("/mruby-cgroup-demo")
group.delete if group.exist? # left over from an interrupted run
group.limit_in_bytes = limit
group.swappiness = 0 # no escape into swap
group.create
puts "created memory:#{group.group_name}, limit_in_bytes = #{group.limit_in_bytes}"

begin
  # The child waits for a line on stdin, then allocates 1 MiB strings forever.
  hog = 'STDIN.gets; a = []; loop { a << ("x" * (1 << 20)) }'
  child = IO.popen("exec #{mruby} -e '#{hog}'", "r+")
  group.attach(child.pid)
  puts "child #{child.pid} attached; the group is charged #{group.usage_in_bytes} bytes"
  child.puts "go"
  child.close # waits for the child to end
  puts "child ended"

  counters = {
    "limit_in_bytes" => group.limit_in_bytes,
    "max_usage_in_bytes" => group.max_usage_in_bytes,
    "failcnt" => group.failcnt,
    "oom_kill_count" => group.oom_kill_count,
    "stat rss" => group.stat["rss"],
  }
  counters.each { |name, value| puts "  %-20s %d" % [name, value] }

  # an uncaught exception makes mruby exit non-zero
  raise "FAILED: the child was not stopped by the limit" unless group.oom_kill_count >= 1
  raise "FAILED: the group used more than its limit" unless group.max_usage_in_bytes <= limit
  puts "OK: the kernel's OOM killer stopped the child inside #{group.group_name}"
ensure
  group.delete if group.exist?
end
