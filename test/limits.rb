# Limits bite: the kernel kills, throttles, refuses and pins children.

PREFIX = CgroupTest.prefix

def kernel(controller, group, file)
  CgroupTest.read("#{CgroupTest.mount(controller)}#{group}/#{file}")
end

def v2?(controller)
  CgroupTest.version(controller) == 2
end

def line_of(text, key)
  text.split("\n").find { |l| l.start_with?("#{key} ") }
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
    if v2?('memory')
      g.memsw_limit_in_bytes = 32 << 20 # memory.swap.max = 0: no escape into swap
    else
      g.swappiness = 0 # v1: no swapping for this group, so the limit bites
    end
    g.create
    unless v2?('memory')
      # cgroup_event_control= registers an eventfd for OOM notifications (v1)
      efd = CgroupTest.eventfd
      cfd = CgroupTest.open_fd("#{CgroupTest.mount('memory')}#{g.group_name}/memory.oom_control")
      g.cgroup_event_control = "#{efd} #{cfd}"
      g.modify
      assert_equal 0, CgroupTest.eventfd_count(efd)
    end
    status = run_in(g, "alloc", 256 << 20)
    assert_equal [nil, 9], status, "killed by SIGKILL"
    assert_true g.oom_kill_count >= 1, "an OOM kill counted"
    counters = kernel('memory', g.group_name, v2?('memory') ? 'memory.events' : 'memory.oom_control')
    assert_equal "oom_kill #{g.oom_kill_count}", line_of(counters, "oom_kill")
    assert_true g.failcnt > 0, "failcnt rose (#{g.failcnt})"
    assert_true g.max_usage_in_bytes <= 32 << 20 if CgroupTest.file?("#{CgroupTest.mount('memory')}#{g.group_name}/#{v2?('memory') ? 'memory.peak' : 'memory.max_usage_in_bytes'}")
    assert_true CgroupTest.eventfd_count(efd) >= 1, "the OOM event reached the eventfd" if efd
  ensure
    CgroupTest.close_fd(efd) if efd
    CgroupTest.close_fd(cfd) if cfd
    CgroupTest.cleanup
  end
end

assert('MEMORY#cgroup_event_control= refuses a registration the kernel rejects') do
  skip "cgroup.event_control is cgroup v1 only" if v2?('memory')
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
    raw = g.raw_stat # v1 counts nanoseconds; stat gives v2's microseconds on both
    assert_equal v2?('cpu') ? raw["throttled_usec"] : raw["throttled_time"] / 1000, stat["throttled_usec"]
    assert_true stat["throttled_usec"] > 0
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
    assert_equal "max 2", line_of(kernel('pids', g.group_name, 'pids.events'), "max"), "both refused forks counted"
    assert_equal({ "max" => 2 }, g.events)
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

assert('MEMORY#wait_for_oom returns true promptly when a child is OOM-killed, false at its timeout') do
  g = Cgroup::MEMORY.new("#{PREFIX}/oomwait")
  begin
    g.limit_in_bytes = 32 << 20
    if v2?('memory')
      g.memsw_limit_in_bytes = 32 << 20
    else
      g.swappiness = 0
    end
    g.create
    started = CgroupTest.now
    assert_false g.wait_for_oom(0.3)
    waited = CgroupTest.now - started
    assert_true waited >= 0.3 && waited < 3, "timed out after #{waited} s"
    pid = CgroupTest.spawn("late_alloc", 256 << 20) # allocates 0.3 s after release
    g.attach(pid)
    CgroupTest.release(pid)
    started = CgroupTest.now
    assert_true g.wait_for_oom(20)
    waited = CgroupTest.now - started
    assert_true waited < 10, "woke #{waited} s after the release"
    assert_equal [nil, 9], CgroupTest.wait(pid)
    assert_true g.oom_kill_count >= 1
    events = g.events # the same keys on both versions
    assert_equal [g.failcnt, g.oom_kill_count], [events["max"], events["oom_kill"]]
    assert_true events["max"] > 0 && events["oom_kill"] >= 1, events.inspect
    assert_raise(ArgumentError) { g.wait_for_oom(-1) }
    assert_raise(Cgroup::NotFound) { Cgroup::MEMORY.new("#{PREFIX}/none").wait_for_oom(0) }
  ensure
    CgroupTest.cleanup
  end
end

assert('stat hashes have the same keys on v1 and v2: PIDS, CPUSET, BLKIO, FREEZER') do
  begin
    pids = Cgroup::PIDS.new("#{PREFIX}/stat")
    pids.max = 2
    pids.create
    assert_equal({ "current" => 0, "max" => 2, "refused" => 0 }, pids.stat)
    set = Cgroup::CPUSET.new("#{PREFIX}/stat")
    set.create
    eff = v2?('cpuset') ? %w[cpuset.cpus.effective cpuset.mems.effective] : %w[cpuset.effective_cpus cpuset.effective_mems]
    assert_equal({ "effective_cpus" => kernel('cpuset', set.group_name, eff[0]).chomp,
                   "effective_mems" => kernel('cpuset', set.group_name, eff[1]).chomp }, set.stat)
    disk = %w[vda sda nvme0n1 xvda hda ram0].find { |d| CgroupTest.dir?("/sys/block/#{d}") }
    blk = Cgroup::BLKIO.new("#{PREFIX}/stat")
    blk.create
    if disk
      dev = CgroupTest.read("/sys/block/#{disk}/dev").chomp
      # v1's throttle layer counts only where a rule applies: a generous one
      blk.throttle_read_bps_device = "#{dev} #{1 << 40}"
      blk.modify
      # this thread (v1) or process (v2) reads 1 MiB from the disk inside the group
      read = begin
        blk.attach { CgroupTest.read_direct("/dev/#{disk}", 1 << 20) }
      rescue RuntimeError => e # this host's devices cgroup may refuse the disk
        CgroupTest.note "BLKIO#stat not checked against I/O: #{e.message}"
        nil
      end
    end
    if read
      stat = blk.stat[dev]
      assert_true stat["rbytes"] >= read && stat["rios"] >= 1, stat.inspect
      file = v2?('blkio') ? 'io.stat' : 'blkio.throttle.io_service_bytes'
      text = kernel('blkio', blk.group_name, file)
      assert_include text, v2?('blkio') ? "rbytes=#{stat['rbytes']}" : "#{dev} Read #{stat['rbytes']}"
    end
    CgroupTest.note "BLKIO#stat: no disk here to read from" unless disk
  ensure
    CgroupTest.cleanup
  end
end
