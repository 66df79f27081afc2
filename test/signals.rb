# A 1 ms SIGALRM handled without SA_RESTART, as a server's timer may be, makes blocking system
# calls fail with EINTR: the waits, freeze and thaw, kill_all, spawn and wait, and per-request
# cycles must give the same results as without it.

PREFIX = CgroupTest.prefix

assert('under a 1 ms SIGALRM without SA_RESTART every call gives the result it gives without') do
  skip "pids, freezer or memory is not available" unless %w[pids freezer memory].all? { |c| CgroupTest.version(c) }
  CgroupTest.isolate do
    cpu = Cgroup::CPU.new("#{PREFIX}/storm").create
    pids = Cgroup::PIDS.new("#{PREFIX}/storm").create
    ice = Cgroup::FREEZER.new("#{PREFIX}/storm-ice").create
    mem = CgroupTest.oom_group("#{PREFIX}/storm-oom", 32 << 20)
    tid = CgroupTest.tid
    home = CgroupTest.group_of(tid, 'cpu')
    seen = []
    alarms = CgroupTest.alarm_storm(1000) do
      500.times do |i| # per-request cycles of the calling thread
        cpu.cfs_quota_us = 10_000 + i
        cpu.attach { seen << CgroupTest.group_of(tid, 'cpu') }
      end
      status = Cgroup.wait(pids.spawn("/bin/sh", "-c", "sleep 0.2; exit 4"))
      seen << status.exitstatus
      spinner = CgroupTest.start_in(ice, "spin", 30_000)
      ice.freeze(10)
      seen << ice.state
      ice.thaw(10)
      seen << ice.state << ice.kill_all << CgroupTest.wait(spinner)
      seen << mem.wait_for_oom(0.3)
      hog = CgroupTest.start_in(mem, "late_alloc", 256 << 20)
      seen << mem.wait_for_oom(20) << CgroupTest.wait(hog)
    end
    assert_true alarms > 300, "#{alarms} alarms arrived"
    assert_equal [cpu.group_name] * 500, seen[0, 500], "every cycle ran inside"
    assert_equal [4, "FROZEN", "THAWED", 1, [nil, 9], false, true, [nil, 9]], seen[500..-1]
    assert_equal home, CgroupTest.group_of(tid, 'cpu')
    quota = CgroupTest.version('cpu') == 2 ? 'cpu.max' : 'cpu.cfs_quota_us'
    assert_equal "10499", CgroupTest.kernel_file('cpu', cpu.group_name, quota).split[0], "the last quota landed"
  end
end
