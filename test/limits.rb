# Limits bite: the kernel kills, throttles, refuses and pins children.

PREFIX = CgroupTest.prefix

def v2?(controller)
  CgroupTest.version(controller) == 2
end

def line_of(text, key)
  text.split("\n").find { |l| l.start_with?("#{key} ") }
end

# a child's [exit status, signal] after doing its work in the group
def run_in(group, mode, arg)
  CgroupTest.wait(CgroupTest.start_in(group, mode, arg))
end

assert('a child over MEMORY#limit_in_bytes is OOM-killed inside the group') do
  CgroupTest.isolate do
    g = CgroupTest.oom_group("#{PREFIX}/oom", 32 << 20)
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
    counters = CgroupTest.kernel_file('memory', g.group_name, v2?('memory') ? 'memory.events' : 'memory.oom_control')
    assert_equal "oom_kill #{g.oom_kill_count}", line_of(counters, "oom_kill")
    assert_true g.failcnt > 0, "failcnt rose (#{g.failcnt})"
    assert_true g.max_usage_in_bytes <= 32 << 20 if CgroupTest.file?("#{CgroupTest.mount('memory')}#{g.group_name}/#{v2?('memory') ? 'memory.peak' : 'memory.max_usage_in_bytes'}")
    assert_true CgroupTest.eventfd_count(efd) >= 1, "the OOM event reached the eventfd" if efd
  ensure
    CgroupTest.close_fd(efd) if efd
    CgroupTest.close_fd(cfd) if cfd
  end
end

assert('MEMORY#cgroup_event_control= refuses a registration the kernel rejects') do
  skip "cgroup.event_control is cgroup v1 only" if v2?('memory')
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/event").create
    g.cgroup_event_control = "999 998"
    e = assert_raise(Cgroup::Error) { g.modify }
    assert_equal "cgroup.event_control", e.file
    assert_equal "999 998", e.value
  end
end

assert('a child under the MEMORY limit survives') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/fits")
    g.limit_in_bytes = 64 << 20
    g.create
    assert_equal [0, nil], run_in(g, "alloc", 8 << 20)
    assert_equal 0, g.oom_kill_count
  end
end

assert('CPU cfs_quota_us well below cfs_period_us throttles a busy child') do
  CgroupTest.isolate do
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
    assert_include CgroupTest.kernel_file('cpu', g.group_name, 'cpu.stat').split("\n"), "nr_throttled #{stat['nr_throttled']}"
  end
end

assert('PIDS max = 2 makes the third task in the group fail to fork') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/forks")
    g.max = 2
    g.create
    # the child is task 1, its first fork task 2; the second fork is refused
    assert_equal [1, nil], run_in(g, "fork", 3)
    assert_equal "max 2", line_of(CgroupTest.kernel_file('pids', g.group_name, 'pids.events'), "max"), "both refused forks counted"
    assert_equal({ "max" => 2 }, g.events)
  end
end

assert('CPUSET cpus = "0" pins a child to CPU 0') do
  CgroupTest.isolate do
    g = Cgroup::CPUSET.new("#{PREFIX}/pin")
    g.cpus = "0"
    g.create
    assert_equal [1, nil], run_in(g, "affinity", 0), "affinity mask is CPU 0 only"
  end
end

assert('stat hashes have the same keys on v1 and v2: PIDS, CPUSET, BLKIO, FREEZER') do
  CgroupTest.isolate do
    pids = Cgroup::PIDS.new("#{PREFIX}/stat")
    pids.max = 2
    pids.create
    assert_equal({ "current" => 0, "max" => 2, "refused" => 0 }, pids.stat)
    set = Cgroup::CPUSET.new("#{PREFIX}/stat").create
    eff = v2?('cpuset') ? %w[cpuset.cpus.effective cpuset.mems.effective] : %w[cpuset.effective_cpus cpuset.effective_mems]
    assert_equal({ "effective_cpus" => CgroupTest.kernel_file('cpuset', set.group_name, eff[0]).chomp,
                   "effective_mems" => CgroupTest.kernel_file('cpuset', set.group_name, eff[1]).chomp }, set.stat)
    disk = %w[vda sda nvme0n1 xvda hda ram0].find { |d| CgroupTest.dir?("/sys/block/#{d}") }
    blk = Cgroup::BLKIO.new("#{PREFIX}/stat").create
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
      text = CgroupTest.kernel_file('blkio', blk.group_name, file)
      assert_include text, v2?('blkio') ? "rbytes=#{stat['rbytes']}" : "#{dev} Read #{stat['rbytes']}"
    end
    CgroupTest.note "BLKIO#stat: no disk here to read from" unless disk
  end
end
