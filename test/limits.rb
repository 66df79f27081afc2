# Limits bite: the kernel kills, throttles, refuses and pins children.

PREFIX = CgroupTest.prefix

def v2?(controller)
  CgroupTest.version(controller) == 2
end

# Under valgrind a forked child is emulated too: its CPU time is the
# emulator's, so tests that time the scheduler say so.
def skip_if_emulated
  skip "children run under valgrind here: their CPU time is not the scheduler's to judge" if CgroupTest.emulated?
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
    # 50 ms of CPU time (not of the clock: a loaded machine would give a
    # child less of it) take five periods' quota: throttled whatever the load
    assert_equal [0, nil], run_in(g, "spin_cpu", 50)
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

# cpu.cfs_burst_us (v1) / cpu.max.burst (v2), kernel 5.14: unused quota
# saved up to the burst lets a short spike through.  The kernel takes a burst
# no larger than the quota: 40 ms a 200 ms period, 40 ms of burst, and spikes
# of 60 ms of CPU time after half a second of light use (see child_burst).  A
# spike sits 20 ms from either bound (40 without burst, 80 with it): under
# emulation a late scheduler tick charges a spike's last stretch all at once,
# and a 34 ms spike against 40 ms (6 ms to spare) was once throttled in the
# systemd VM.  Without burst, a spike that straddles two periods may fit
# their two quotas, and more often the longer it lasts (at a third of a CPU,
# one starting in the last 60 ms of a period does): a loaded machine
# stretches it, so five spikes, each at another phase of the period.
assert('CPU#cfs_burst_us lets 60 ms spikes run unthrottled; without it they are throttled') do
  skip_if_emulated
  CgroupTest.isolate do
    throttled = [40_000, 0].map do |burst|
      g = Cgroup::CPU.new("#{PREFIX}/burst-#{burst}")
      g.cfs_period_us = 200_000
      g.cfs_quota_us = 40_000
      g.create
      begin
        g.cfs_burst_us = burst
        g.modify
      rescue Cgroup::Unsupported => e
        skip "no burst in this kernel's cpu controller: #{e.message}"
      end
      assert_equal burst.to_s, CgroupTest.kernel_file('cpu', g.group_name, v2?('cpu') ? 'cpu.max.burst' : 'cpu.cfs_burst_us').chomp
      assert_equal [0, nil], run_in(g, "burst", 60)
      g.stat["nr_throttled"]
    end
    assert_equal 0, throttled[0], "with 40 ms of burst: never throttled"
    assert_true throttled[1] > 0, "without burst: throttled (#{throttled[1]} periods)"
  end
end

assert('CPU#cfs_burst_us above the quota is refused (InvalidValue), not capped; the burst in force stays') do
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/burst-over")
    g.cfs_quota_us = 40_000
    g.create
    file = v2?('cpu') ? 'cpu.max.burst' : 'cpu.cfs_burst_us'
    begin
      g.cfs_burst_us = 20_000
      g.modify
    rescue Cgroup::Unsupported => e
      skip "no burst in this kernel's cpu controller: #{e.message}"
    end
    g.cfs_burst_us = 80_000
    e = assert_raise(Cgroup::InvalidValue) { g.modify }
    assert_equal [file, "80000"], [e.file, e.value]
    assert_equal "20000", CgroupTest.kernel_file('cpu', g.group_name, file).chomp
    assert_equal 20_000, g.cfs_burst_us
  end
end

# cpu.idle (kernel 5.15, v1 and v2): the group's tasks run as SCHED_IDLE
# against the others, so on one CPU a normal group takes nearly all of it.
# The children pin themselves to CPU 0 (sched_setaffinity): this is about
# the scheduler, not about cpusets.
assert('CPU#idle = true gives a group a small share against a normal one on one CPU') do
  skip_if_emulated
  CgroupTest.isolate do
    Cgroup::CPU.new("#{PREFIX}/idle").create
    groups = { normal: false, idle: true }.map do |name, idle|
      g = Cgroup::CPU.new("#{PREFIX}/idle/#{name}")
      g.create
      begin
        g.idle = idle
        g.modify
      rescue Cgroup::Unsupported => e
        skip "no cpu.idle in this kernel: #{e.message}"
      end
      assert_equal idle ? "1" : "0", CgroupTest.kernel_file('cpu', g.group_name, 'cpu.idle').chomp
      g
    end
    accounts = groups.map { |g| v2?('cpu') ? g.cpuacct : Cgroup::CPUACCT.new(g.group_name).create }
    pids = (0...groups.size).map do |i|
      pid = CgroupTest.spawn("spin_cpu0", 120_000)
      groups[i].attach(pid)
      accounts[i].attach(pid) unless v2?('cpu')
      pid
    end
    # both compete for CPU 0 until the normal one used 300 ms of CPU time
    # (not a fixed second: on a loaded machine a second may give it little),
    # then are stopped; 60 s is only a guard against a CPU that never frees
    pids.each { |pid| CgroupTest.release(pid) }
    start = accounts.map(&:usage)
    used = lambda { [0, 1].map { |i| accounts[i].usage - start[i] } }
    600.times { break if used.call[0] >= 300_000_000; CgroupTest.sleep(0.1) }
    normal, idle = used.call
    pids.each { |pid| CgroupTest.kill(pid, 9) }
    assert_true normal >= 300_000_000, "the normal group ran 300 ms within 60 s: #{normal / 1000} us"
    assert_true idle * 5 < normal, "idle group used #{idle / 1000} us against #{normal / 1000} us"
  end
end

# memory.oom.group (kernel 4.19, v2): the OOM killer takes the whole group.
assert('MEMORY#oom_group = true: an OOM kill takes the job\'s four tasks, not one') do
  skip "memory.oom.group is cgroup v2 only" unless v2?('memory')
  CgroupTest.isolate do
    left = [true, false].map do |whole|
      g = CgroupTest.oom_group("#{PREFIX}/job-#{whole}", 32 << 20)
      g.oom_group = whole
      g.modify
      assert_equal whole ? "1" : "0", CgroupTest.kernel_file('memory', g.group_name, 'memory.oom.group').chomp
      assert_equal [nil, 9], run_in(g, "family", 256 << 20), "the allocator is killed either way"
      # the group kill signals each task; give them a moment to go (a second at most)
      10.times do
        break if CgroupTest.pids_in('memory', g.group_name).empty?
        CgroupTest.sleep(0.1)
      end
      events = g.raw_events
      if whole && events.key?("oom_group_kill") # kernel 5.17
        assert_true events["oom_group_kill"] >= 1, events.inspect
      end
      CgroupTest.pids_in('memory', g.group_name).size
    end
    assert_equal 0, left[0], "oom.group 1: the three sleepers died with the allocator"
    assert_equal 3, left[1], "oom.group 0: the three sleepers live on"
  end
end
