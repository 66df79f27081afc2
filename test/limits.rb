# Limits bite: the kernel kills, throttles, refuses and pins children.

PREFIX = CgroupTest.prefix

def kernel(controller, group, file)
  CgroupTest.read("#{CgroupTest.mount(controller)}#{group}/#{file}")
end

def run_in(group, mode, arg)
  pid = CgroupTest.spawn(mode, arg)
  group.attach(pid)
  CgroupTest.release(pid)
  CgroupTest.wait(pid)
end

assert('a child over MEMORY#limit_in_bytes is OOM-killed inside the group') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/oom")
    g.limit_in_bytes = 32 << 20
    g.swappiness = 0 # v1: no swapping for this group, so the limit bites
    g.create
    # cgroup_event_control= registers an eventfd for OOM notifications
    efd = CgroupTest.eventfd
    cfd = CgroupTest.open_fd("#{CgroupTest.mount('memory')}#{g.group_name}/memory.oom_control")
    g.cgroup_event_control = "#{efd} #{cfd}"
    g.modify
    assert_equal 0, CgroupTest.eventfd_count(efd)
    status = run_in(g, "alloc", 256 << 20)
    assert_equal [nil, 9], status, "killed by SIGKILL"
    assert_true g.oom_kill_count >= 1, "oom_kill in memory.oom_control"
    assert_include kernel('memory', g.group_name, 'memory.oom_control').split("\n"), "oom_kill #{g.oom_kill_count}"
    assert_true g.failcnt > 0, "failcnt rose (#{g.failcnt})"
    assert_true g.max_usage_in_bytes <= 32 << 20
    assert_true CgroupTest.eventfd_count(efd) >= 1, "the OOM event reached the eventfd"
  ensure
    CgroupTest.close_fd(efd) if efd
    CgroupTest.close_fd(cfd) if cfd
    CgroupTest.cleanup
  end
end

assert('MEMORY#cgroup_event_control= refuses a registration the kernel rejects') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/event")
    g.create
    g.cgroup_event_control = "999 998"
    e = assert_raise(Cgroup::Error) { g.modify }
    assert_equal "cgroup.event_control", e.file
    assert_equal "999 998", e.value
  ensure
    CgroupTest.cleanup
  end
end

assert('a child under the MEMORY limit survives') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/fits")
    g.limit_in_bytes = 64 << 20
    g.create
    assert_equal [0, nil], run_in(g, "alloc", 8 << 20)
    assert_equal 0, g.oom_kill_count
  ensure
    CgroupTest.cleanup
  end
end

assert('CPU cfs_quota_us well below cfs_period_us throttles a busy child') do
  begin
    g = Cgroup::CPU.new("#{PREFIX}/throttle")
    g.cfs_period_us = 100_000
    g.cfs_quota_us = 10_000
    g.create
    assert_equal [0, nil], run_in(g, "spin", 500)
    stat = g.stat
    assert_true stat["nr_throttled"] > 0, "nr_throttled = #{stat['nr_throttled']}"
    assert_true stat["throttled_time"] > 0
    assert_include kernel('cpu', g.group_name, 'cpu.stat').split("\n"), "nr_throttled #{stat['nr_throttled']}"
  ensure
    CgroupTest.cleanup
  end
end

assert('PIDS max = 2 makes the third task in the group fail to fork') do
  begin
    g = Cgroup::PIDS.new("#{PREFIX}/forks")
    g.max = 2
    g.create
    # the child is task 1, its first fork task 2; the second fork is refused
    assert_equal [1, nil], run_in(g, "fork", 3)
    refused = kernel('pids', g.group_name, 'pids.events').split("\n").find { |l| l.start_with?("max ") }
    assert_equal "max 2", refused, "both refused forks counted"
  ensure
    CgroupTest.cleanup
  end
end

assert('CPUSET cpus = "0" pins a child to CPU 0') do
  begin
    g = Cgroup::CPUSET.new("#{PREFIX}/pin")
    g.cpus = "0"
    g.create
    assert_equal [1, nil], run_in(g, "affinity", 0), "affinity mask is CPU 0 only"
  ensure
    CgroupTest.cleanup
  end
end
