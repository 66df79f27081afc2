# Running commands in groups (spawn, wait) and per-request blocks (attach
# with a block, Cgroup.with).

PREFIX = CgroupTest.prefix
MRUBY = TEST_ARGS['mruby_bin']

def group_of(pid, klass)
  CgroupTest.group_of(pid, klass::CONTROLLER)
end

assert('spawn runs a command already inside every group given; wait gives its status') do
  cpu = Cgroup::CPU.new("#{PREFIX}/run")
  pids = Cgroup::PIDS.new("#{PREFIX}/run")
  begin
    cpu.create
    pids.create
    pids.max = 5 # staged: spawn writes it before the child joins
    out = "/tmp/mrbcg-spawn-#{PREFIX.split('-').last}"
    pid = Cgroup.spawn([cpu, pids], "/bin/sh", "-c", "cat /proc/self/cgroup > #{out}; exit 3")
    status = Cgroup.wait(pid)
    assert_equal [pid, 3, nil, false, false], [status.pid, status.exitstatus, status.termsig,
                                               status.success?, status.oom_killed?]
    seen = CgroupTest.read(out)
    [[cpu, 'cpu'], [pids, 'pids']].each do |g, c|
      line = seen.split("\n").find { |l| CgroupTest.version(c) == 2 ? l.start_with?("0::") : l.split(":")[1].split(",").include?(c) }
      assert_equal g.group_name, line.split(":", 3)[2], "the shell ran in #{c}:#{g.group_name}"
    end
    assert_equal "5", CgroupTest.read("#{CgroupTest.mount('pids')}#{pids.group_name}/pids.max").chomp
    assert_true Cgroup.wait(pids.spawn("/bin/true")).success?
    CgroupTest.unlink(out)
  ensure
    CgroupTest.cleanup
  end
end

assert('spawn into groups of different names: each its own on v1, refused on v2') do
  cpu = Cgroup::CPU.new("#{PREFIX}/one")
  pids = Cgroup::PIDS.new("#{PREFIX}/two")
  begin
    cpu.create
    pids.create
    if CgroupTest.version('cpu') == 2 && CgroupTest.version('pids') == 2
      e = assert_raise(Cgroup::InvalidValue) { Cgroup.spawn([cpu, pids], "/bin/true") }
      assert_equal pids.group_name, e.value
      assert_equal [[], []], [cpu.procs, pids.procs], "nothing was started"
    else
      pid = Cgroup.spawn([cpu, pids], "/bin/sleep", "5")
      begin
        assert_equal [cpu.group_name, pids.group_name], [group_of(pid, Cgroup::CPU), group_of(pid, Cgroup::PIDS)]
      ensure
        CgroupTest.kill(pid)
        Cgroup.wait(pid)
      end
    end
  ensure
    CgroupTest.cleanup
  end
end

assert('spawn reports a command that cannot run and a group that does not exist') do
  g = Cgroup::PIDS.new("#{PREFIX}/bad")
  begin
    g.create
    e = assert_raise(Cgroup::NotFound) { g.spawn("/nonexistent/command") }
    assert_equal "/nonexistent/command", e.value
    assert_raise(Cgroup::NotFound) { Cgroup::PIDS.new("#{PREFIX}/none").spawn("/bin/true") }
    assert_raise(ArgumentError) { g.spawn }
    assert_raise(ArgumentError) { Cgroup.spawn([], "/bin/true") }
    assert_equal [], g.procs, "no child left behind"
  ensure
    CgroupTest.cleanup
  end
end

assert('wait says a spawned child was OOM-killed in its MEMORY group') do
  skip "no mruby binary at #{MRUBY}" unless CgroupTest.file?(MRUBY)
  g = Cgroup::MEMORY.new("#{PREFIX}/oomrun")
  begin
    g.limit_in_bytes = 32 << 20
    if CgroupTest.version('memory') == 2
      g.memsw_limit_in_bytes = 32 << 20
    else
      g.swappiness = 0
    end
    g.create
    status = Cgroup.wait(g.spawn(MRUBY, "-e", "a = []; 100.times { a << ('x' * (4 << 20)) }"))
    assert_equal [nil, 9, true], [status.exitstatus, status.termsig, status.oom_killed?]
    killed = Cgroup.wait(g.spawn("/bin/sh", "-c", "kill -9 $$"))
    assert_equal [9, false], [killed.termsig, killed.oom_killed?], "SIGKILL without an OOM"
  ensure
    CgroupTest.cleanup
  end
end

assert('attach with a block moves the calling thread for the block only, even when it raises') do
  skip "cpu is not available" unless CgroupTest.version('cpu')
  g = Cgroup::CPU.new("#{PREFIX}/blk")
  begin
    g.create
    tid = CgroupTest.tid
    home = group_of(tid, Cgroup::CPU)
    inside = g.attach { |x| [x, group_of(tid, Cgroup::CPU)] }
    assert_equal [g, g.group_name], inside
    assert_equal home, group_of(tid, Cgroup::CPU)
    assert_raise(RuntimeError) { g.attach { raise "request failed" } }
    assert_equal home, group_of(tid, Cgroup::CPU), "back home after the exception"
    g.attach do # nested on the same object: the outer block owns the move
      g.attach { nil }
      assert_equal g.group_name, group_of(tid, Cgroup::CPU)
    end
    assert_equal home, group_of(tid, Cgroup::CPU)
  ensure
    CgroupTest.cleanup
  end
end

assert('attach(pid) with a block, and Cgroup.with for several groups at once') do
  mem = Cgroup::MEMORY.new("#{PREFIX}/with")
  pids = Cgroup::PIDS.new("#{PREFIX}/with")
  begin
    mem.create
    pids.create
    child = CgroupTest.spawn("sleep")
    home = [group_of(child, Cgroup::MEMORY), group_of(child, Cgroup::PIDS)]
    mem.attach(child) do
      pids.attach(child) do
        assert_equal [mem.group_name, pids.group_name], [group_of(child, Cgroup::MEMORY), group_of(child, Cgroup::PIDS)]
      end
    end
    assert_equal home, [group_of(child, Cgroup::MEMORY), group_of(child, Cgroup::PIDS)]
    # Cgroup.with moves the calling task: the CPU and PIDS groups (not the
    # memory one: the test runner stays in its memory group)
    cpu = Cgroup::CPU.new("#{PREFIX}/with")
    cpu.create
    tid = CgroupTest.tid
    before = [group_of(tid, Cgroup::CPU), group_of(tid, Cgroup::PIDS)]
    seen = Cgroup.with(cpu, pids) { [group_of(tid, Cgroup::CPU), group_of(tid, Cgroup::PIDS)] }
    assert_equal [cpu.group_name, pids.group_name], seen
    assert_equal before, [group_of(tid, Cgroup::CPU), group_of(tid, Cgroup::PIDS)]
    missing = Cgroup::PIDS.new("#{PREFIX}/none")
    assert_raise(Cgroup::NotFound) { Cgroup.with(cpu, missing) { flunk "not reached" } }
    assert_equal before[0], group_of(tid, Cgroup::CPU), "the first group was left again"
    assert_raise(ArgumentError) { Cgroup.with(cpu) }
  ensure
    CgroupTest.cleanup
  end
end
