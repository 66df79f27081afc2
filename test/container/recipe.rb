# Run inside a real container (Docker, Podman, runc, crun, LXC) by
# tools/container-test, as the container's command, by the mruby that was
# built with the gem: what doc/containers.md tells a user's script to do,
# checked from inside against the kernel's files.
#   mruby recipe.rb ro         the cgroup mount is read-only: reads work, writes say so
#   mruby recipe.rb ro host    the same in the host's cgroup namespace, the mount showing the
#                              host's whole tree (crun and runc with --cgroupns=host on v2):
#                              the group is the host's path that /proc/self/cgroup names
#   mruby recipe.rb rw         it is writable: claim, groups, limits, an OOM kill, attach
#   mruby recipe.rb unmounted  no cgroup mount at all: the gem says so
#   mruby recipe.rb hosttree   the host's whole tree in a cgroup namespace: the gem
#                              refuses to take the host's groups for its own (reads only)
# Prints "ok WHAT detail" or "FAIL WHAT: detail" per check, then
# "recipe(MODE): N passed, M failed".
MODE = ARGV[0].to_s
MRUBY = "/bin/mruby"
$passed = 0
$failed = 0

def check(what, ok, detail = nil)
  if ok
    $passed += 1
    puts "ok #{what}#{detail.nil? ? '' : " #{detail}"}"
  else
    $failed += 1
    puts "FAIL #{what}: #{detail.inspect}"
  end
  ok
end

def read(path)
  File.open(path) { |f| f.read }
end

def said(e)
  "#{e.class}: #{e.message}"
end

# The value of a block, or the exception it raised.
def outcome
  yield
rescue => e
  e
end

# What mountinfo says of each cgroup mount: [point, root, options, super options, type]
def cgroup_mounts
  read("/proc/self/mountinfo").split("\n").map { |l| l.split(" ") }.select { |f| f.include?("-") && f[f.index("-") + 1].to_s.start_with?("cgroup") }
    .map { |f| [f[4], f[3], f[5], f[f.index("-") + 3].to_s, f[f.index("-") + 1]] }
end

# The mount serving a controller: its v1 hierarchy, else the cgroup2 mount (v2).
def mount_entry(controller)
  cgroup_mounts.find { |_, _, _, opts| opts.split(",").include?(controller) } ||
    cgroup_mounts.find { |m| m[4] == "cgroup2" }
end

# Where a controller's hierarchy is mounted in this container, or nil.
def mount_of(controller)
  m = mount_entry(controller)
  m && m[0]
end

# v1's file names in the checks below, and the v2 file that holds the same
# value (cpu.max's first field is the quota; memory.events has oom_kill).
V2_FILES = { "memory.usage_in_bytes" => "memory.current", "memory.limit_in_bytes" => "memory.max",
             "cpu.cfs_quota_us" => "cpu.max", "memory.oom_control" => "memory.events" }

def my_pid
  read("/proc/self/stat").split(" ")[0].to_i
end

# A group's file through the mount, read with File (not the gem).
def kernel(controller, group, file)
  v2 = (m = mount_entry(controller)) && m[4] == "cgroup2" && V2_FILES[file]
  text = read("#{mount_of(controller)}#{group == '/' ? '' : group}/#{v2 || file}").strip
  v2 == "cpu.max" ? text.split(" ")[0] : text
rescue => e
  said(e)
end

# A write that must fail: Cgroup::PermissionDenied ending in "Read-only file system".
def refused(what)
  e = outcome { yield; nil }
  check("#{what} refused", e.is_a?(Cgroup::PermissionDenied) && e.message.end_with?("Read-only file system"),
        e ? said(e) : "no error")
end

# What this container was given, in one line: its memory group as
# /proc/self/cgroup names it, and the memory hierarchy's mount.
lines = read("/proc/self/cgroup").split("\n").map { |l| l.split(":", 3) }
line = lines.find { |f| f[1].to_s.split(",").include?("memory") } || lines.find { |f| f[0] == "0" } # v2: "0::"
mem = mount_entry("memory")
puts "view: memory group #{line ? line[2] : '(none)'}; " +
     (mem ? "mount #{mem[0]} root #{mem[1]} #{mem[2].split(',')[0]}" : "no cgroup mount") +
     " (#{cgroup_mounts.size} cgroup mounts)"

# Reads work in the container's view: current_path is its group as the
# mount shows it ("/"), whose procs hold this process.
def reads(want)
  paths = [:cpu, :memory, :pids].map { |c| outcome { Cgroup.current_path(c) } }
  check("current_path", paths.all? { |p| p == want }, paths.map { |p| p.is_a?(Exception) ? said(p) : p }.join(" "))
  here = paths[1].is_a?(String) ? paths[1] : want
  procs = outcome { Cgroup::MEMORY.new(here).procs }
  check("procs hold this process", procs.is_a?(Array) && procs.include?(my_pid),
        procs.is_a?(Exception) ? said(procs) : "pid #{my_pid} in #{procs.inspect}")
  usage = outcome { Cgroup::MEMORY.new(here).usage_in_bytes }
  check("memory usage reads", usage.is_a?(Integer) && usage > 0 && kernel("memory", here, "memory.usage_in_bytes").to_i > 0,
        usage.is_a?(Exception) ? said(usage) : usage)
  current = outcome { Cgroup::PIDS.new(here).current }
  check("pids.current reads", current.is_a?(Integer) && current >= 1, current.is_a?(Exception) ? said(current) : current)
  here
end

def read_only
  want = "/"
  want = read("/proc/self/cgroup").split("\n").find { |l| l.start_with?("0::") }.to_s[3..-1].to_s if ARGV[1] == "host"
  base = reads(want)
  refused("claim") { Cgroup.claim(:cpu, :memory, :pids) }
  refused("create") { Cgroup::MEMORY.new("#{base}/req").create }
  mem = Cgroup::MEMORY.new(base)
  limit = kernel("memory", base, "memory.limit_in_bytes")
  refused("modify of its own group") { mem.limit_in_bytes = 64 << 20; mem.modify }
  here = "#{mount_of('memory')}#{base == '/' ? '' : base}"
  check("nothing made or changed", !File.exist?("#{here}/req") && !File.exist?("#{here}/main") &&
        kernel("memory", base, "memory.limit_in_bytes") == limit, "memory.limit_in_bytes #{limit}")
end

def writable
  reads("/")
  base = outcome { Cgroup.claim(:cpu, :memory, :pids) }
  return check("claim", false, said(base)) if base.is_a?(Exception)
  check("claim", base == "/", base)
  lines = read("/proc/self/cgroup").split("\n").map { |l| l.split(":") }
  mine = lines.select { |f| (f[1].to_s.split(",") & %w[cpu memory pids]).any? }
  mine = lines.select { |f| f[0] == "0" } if mine.empty? # v2: the one "0::" line
  check("claim moved this process into its leaf", !mine.empty? && mine.all? { |f| f[2].to_s.end_with?("/main") },
        mine.map { |f| f.join(":") }.join(" | "))
  name = "#{base}/req" # the documented pattern: "//req" at a namespace's root
  cpu = Cgroup::CPU.new(name)
  mem = Cgroup::MEMORY.new(name)
  pids = Cgroup::PIDS.new(name)
  made = outcome do
    cpu.cfs_quota_us = 20_000
    cpu.create
    mem.limit_in_bytes = 32 << 20
    mem.memsw_limit_in_bytes = 32 << 20 if File.exist?("#{mount_of('memory')}/memory.memsw.limit_in_bytes")
    mem.create
    pids.max = 16
    pids.create
  end
  return check("create #{name}", false, said(made)) if made.is_a?(Exception)
  check("cpu quota read back", cpu.cfs_quota_us == 20_000 && kernel("cpu", "/req", "cpu.cfs_quota_us") == "20000",
        kernel("cpu", "/req", "cpu.cfs_quota_us"))
  check("memory limit read back", mem.limit_in_bytes == 32 << 20 && kernel("memory", "/req", "memory.limit_in_bytes") == (32 << 20).to_s,
        kernel("memory", "/req", "memory.limit_in_bytes"))
  check("pids limit read back", pids.max == 16 && kernel("pids", "/req", "pids.max") == "16", kernel("pids", "/req", "pids.max"))
  status = outcome { Cgroup.wait(Cgroup.spawn([cpu, mem, pids], MRUBY, "-e", "a = 'x' * (128 << 20); p a.size")) }
  check("a memory hog is OOM-killed", !status.is_a?(Exception) && status.oom_killed?, status.is_a?(Exception) ? said(status) : status.inspect)
  kills = kernel("memory", "/req", "memory.oom_control").split("\n").find { |l| l.start_with?("oom_kill ") }
  check("memory.oom_control counts the kill", kills.to_s.split(" ")[1].to_i >= 1, kills)
  home = [Cgroup.current_path(:cpu), Cgroup.current_path(:memory)]
  inside = nil
  cycles = outcome { 100.times { Cgroup.with(cpu, mem) { inside = [Cgroup.current_path(:cpu), Cgroup.current_path(:memory)] } }; 100 }
  back = [Cgroup.current_path(:cpu), Cgroup.current_path(:memory)]
  check("100 Cgroup.with cycles come back", cycles == 100 && inside == ["/req", "/req"] && back == home,
        cycles.is_a?(Exception) ? said(cycles) : "in #{inside.inspect}, back in #{back.inspect}")
  gone = outcome { [cpu, mem, pids].each(&:delete); nil }
  check("delete", gone.nil? && %w[cpu memory pids].none? { |c| File.exist?("#{mount_of(c)}/req") }, gone && said(gone))
end

# No cgroup mount in the container: the first call says so.
def unmounted
  check("no cgroup mount", cgroup_mounts.empty?, cgroup_mounts.inspect)
  got = outcome { Cgroup.current_path(:memory) }
  check("current_path says the cgroup is not mounted", got.is_a?(Cgroup::Error) && got.message.include?("not mounted"),
        got.is_a?(Exception) ? said(got) : got.inspect)
  got = outcome { Cgroup.claim(:cpu, :memory, :pids) }
  check("claim says the cgroup is not mounted", got.is_a?(Cgroup::Error) && got.message.include?("not mounted"),
        got.is_a?(Exception) ? said(got) : got.inspect)
end

# The host's whole tree bind-mounted into a cgroup namespace (Docker's
# --cgroupns=private -v /sys/fs/cgroup:/sys/fs/cgroup:rw on v1): the mount's
# root is above the namespace's, and this process's group lies outside
# what the namespace can name.  Nothing here writes: the mount is the host's.
def host_tree
  outside = ->(e) { e.is_a?(Cgroup::NotFound) && e.message.include?("outside the cgroup mount") }
  got = outcome { Cgroup.current_path(:memory) }
  refused = check("current_path refuses a group outside the mount's root", outside.call(got),
                  got.is_a?(Exception) ? said(got) : got.inspect)
  # claim only once current_path refused: it finds its base the same way
  got = refused ? outcome { Cgroup.claim(:cpu, :memory, :pids) } : "not tried"
  check("claim refuses it too", outside.call(got), got.is_a?(Exception) ? said(got) : got.inspect)
  got = outcome { Cgroup::MEMORY.new("/").procs }
  check("the mount is the host's root (its procs lack this process)", got.is_a?(Array) && !got.include?(my_pid),
        got.is_a?(Exception) ? said(got) : "#{got.size} processes")
end

begin
  case MODE
  when "ro" then read_only
  when "rw" then writable
  when "unmounted" then unmounted
  when "hosttree" then host_tree
  else check("mode", false, "unknown mode #{MODE.inspect}: ro, rw, unmounted or hosttree")
  end
rescue => e
  check("no exception", false, said(e))
end
puts "recipe(#{MODE}): #{$passed} passed, #{$failed} failed"
