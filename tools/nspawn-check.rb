# Run by tools/vm-systemd-nspawn as a systemd-nspawn container's command
# (PID 1, root, its own cgroup namespace and cgroup2 mount): what a user's
# script in a container does, checked from inside against the kernel's
# files.  Prints "nspawn(HOW): N passed, N failed".
MRUBY, HOW = ARGV
$passed = 0
$failed = 0

def check(what, ok, detail = nil)
  if ok
    $passed += 1
  else
    $failed += 1
    puts "FAIL: nspawn(#{HOW}): #{what}#{detail.nil? ? '' : ": #{detail.inspect}"}"
  end
end

def read(path)
  File.open(path) { |f| f.read }
end

def cgroup_mounts
  read("/proc/self/mountinfo").split("\n").select { |l| l.include?(" - cgroup") }
end

puts "nspawn(#{HOW}): the container's cgroup mounts: #{cgroup_mounts.join(' | ')}"
puts "nspawn(#{HOW}): its root's cgroup.controllers: #{read('/sys/fs/cgroup/cgroup.controllers').strip.inspect}"
# what a container that was given controllers does (registered with machined)
def given_controllers
  check("in the namespace's root", read("/proc/self/cgroup").strip == "0::/", read("/proc/self/cgroup"))
  # the host's real root has no cgroup.type: this root is a group of the host's
  check("the root is the container's group (it has cgroup.type)", File.exist?("/sys/fs/cgroup/cgroup.type"))
  base = Cgroup.claim(:cpu, :memory, :pids)
  check("claim takes the namespace's root", base == "/", base)
  check("claim moved this process into /main", read("/proc/self/cgroup").strip == "0::/main")
  enabled = read("/sys/fs/cgroup/cgroup.subtree_control").split.sort
  check("claim enabled the controllers", (%w[cpu memory pids] - enabled).empty?, enabled)

  job = Cgroup::MEMORY.new("/job")
  job.limit_in_bytes = 32 << 20
  job.create
  check("the limit is the kernel's", read("/sys/fs/cgroup/job/memory.max").strip == (32 << 20).to_s)
  pids = Cgroup::PIDS.new("/job")
  pids.max = 16
  pids.create
  check("pids.max is the kernel's", read("/sys/fs/cgroup/job/pids.max").strip == "16")
  status = Cgroup.wait(job.spawn(MRUBY, "-e", "a = 'x' * (128 << 20); p a.size"))
  check("a child over the limit is OOM-killed", status.oom_killed?, status)
  kills = read("/sys/fs/cgroup/job/memory.events").split("\n").find { |l| l.start_with?("oom_kill ") }
  check("memory.events counts the kill", kills.to_s.split[1].to_i >= 1, kills)
  check("Cgroup.groups in the container's view", Cgroup.groups(:memory) == ["/", "/job", "/main"],
        Cgroup.groups(:memory))
  cpu = Cgroup::CPU.new("/job")
  cpu.cfs_quota_us = 10_000
  cpu.create
  inside = cpu.attach { read("/proc/self/cgroup").strip }
  check("attach moves this process in and back", inside == "0::/job" && read("/proc/self/cgroup").strip == "0::/main",
        inside)
  check("cpu.max is the kernel's", read("/sys/fs/cgroup/job/cpu.max").strip == "10000 100000")
  job.delete
  check("delete removes the group", !File.exist?("/sys/fs/cgroup/job"))
end

# a container given none (--keep-unit): the first call says so
def given_none
  Cgroup.claim(:cpu, :memory, :pids)
  check("claim refuses a container given no controller", false)
rescue Cgroup::Unsupported => e
  check("claim says none was delegated (#{e.message})", e.message.include?("none was delegated"))
end

offered = read("/sys/fs/cgroup/cgroup.controllers").split
# machined's scope is delegated (Delegate=yes): it offers them
check("the container registered with machined is offered controllers", !offered.empty?) if HOW == "machined"
begin
  offered.empty? ? given_none : given_controllers
rescue => e
  check("no exception", false, "#{e.class}: #{e.message}")
end
puts "nspawn(#{HOW}): #{$passed} passed, #{$failed} failed"
