# Listing and signalling a group's tasks; walking the hierarchy.

PREFIX = CgroupTest.prefix

assert('procs and tasks list what the kernel lists, threads included') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/list").create
    assert_equal [], g.procs
    a = CgroupTest.spawn("sleep")
    b = CgroupTest.spawn("sleep")
    g.attach(a)
    g.attach(b)
    assert_equal [a, b].sort, g.procs.sort
    assert_equal CgroupTest.pids_in('pids', g.group_name, "cgroup.procs").sort, g.procs.sort
    assert_equal [a, b].sort, g.tasks.sort, "one thread each"
    tid = CgroupTest.tid
    cpu = Cgroup::CPU.new("#{PREFIX}/list").create
    if CgroupTest.version('cpu') == 1
      cpu.attach # v1 moves this one thread: a task of the group, its process is listed too
      begin
        assert_include cpu.tasks, tid
        assert_include cpu.procs, tid # the main thread: its tid is the pid
      ensure
        cpu.detach
      end
      assert_not_include cpu.tasks, tid
    end
    assert_raise(Cgroup::NotFound) { Cgroup::PIDS.new("#{PREFIX}/none").procs }
  end
end

assert('kill_all signals every process and, for KILL, waits until the group is empty') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/kill").create
    pids = [0, 1, 2].map { CgroupTest.spawn("sleep") }
    pids.each { |pid| g.attach(pid) }
    assert_equal 3, g.kill_all(:TERM, 5)
    pids.each { |pid| assert_equal [nil, 15], CgroupTest.wait(pid) }
    pids = [0, 1].map { CgroupTest.spawn("sleep") }
    pids.each { |pid| g.attach(pid) }
    assert_equal 2, g.kill_all
    assert_equal [], CgroupTest.pids_in('pids', g.group_name, "cgroup.procs"), "empty when kill_all returns"
    pids.each { |pid| assert_equal [nil, 9], CgroupTest.wait(pid) }
    assert_equal 0, g.kill_all("SIGKILL")
    g.attach do # the calling thread's process is listed: refused, nothing signalled
      e = assert_raise(Cgroup::InvalidValue) { g.kill_all }
      assert_equal "cgroup.procs", e.file
    end
    assert_raise(ArgumentError) { g.kill_all(:NOPE) }
    assert_raise(ArgumentError) { g.kill_all(0) }
  end
end

assert('Cgroup.groups walks the hierarchy like lscgroup') do
  CgroupTest.isolate do
    %w[/w /w/a /w/a/b /w/c].each { |n| Cgroup::MEMORY.new("#{PREFIX}#{n}").create }
    expected = %w[/w /w/a /w/a/b /w/c].map { |n| "#{PREFIX}#{n}" }
    assert_equal expected, Cgroup.groups(:memory, "#{PREFIX}/w")
    assert_equal ["#{PREFIX}/w/c"], Cgroup.groups("memory", "#{PREFIX}/w/c")
    all = Cgroup.groups(:memory)
    assert_equal "/", all.first
    assert_true expected.all? { |n| all.include?(n) }
    assert_raise(Cgroup::NotFound) { Cgroup.groups(:memory, "#{PREFIX}/none") }
    assert_raise(ArgumentError) { Cgroup.groups(:nonesuch) }
  end
end

# What group.kill_all(:KILL, 2) does in a forked child that attached itself
# to `into`: "returned N", "raised Cgroup::InvalidValue", or "signal 9".
def kill_all_from_inside(group, into)
  CgroupTest.in_child do
    into.attach
    group.kill_all(:KILL, 2)
  end.split(": ")[0]
end

assert('kill_all never kills its caller: on v2 a caller anywhere below the group is refused, and nothing is killed') do
  CgroupTest.isolate do
    top = Cgroup::PIDS.new("#{PREFIX}/top").create
    worker = Cgroup::PIDS.new("#{PREFIX}/top/worker").create
    other = Cgroup::PIDS.new("#{PREFIX}/top/other").create
    bystander = CgroupTest.spawn("sleep")
    other.attach(bystander)
    # v2's cgroup.kill takes the whole subtree; v1 signals the group's own processes only
    want = top.version == 2 ? "raised Cgroup::InvalidValue" : "returned 0"
    assert_equal want, kill_all_from_inside(top, worker), "the caller lives and says why"
    assert_equal [bystander], other.procs, "nothing was killed"
    assert_equal "raised Cgroup::InvalidValue", kill_all_from_inside(worker, worker), "its own group, on either version"
  end
end

assert('kill_all(:KILL) on v2 counts and waits for the whole subtree that cgroup.kill kills') do
  CgroupTest.isolate do
    top = Cgroup::PIDS.new("#{PREFIX}/tree").create
    a = Cgroup::PIDS.new("#{PREFIX}/tree/a").create
    b = Cgroup::PIDS.new("#{PREFIX}/tree/b/c").create
    pids = [CgroupTest.spawn("sleep"), CgroupTest.spawn("sleep")]
    a.attach(pids[0])
    b.attach(pids[1])
    if top.version == 2
      assert_equal 2, top.kill_all(:KILL, 5)
      assert_equal [], top.procs(true), "empty when it returns"
      pids.each { |pid| assert_equal [nil, 9], CgroupTest.wait(pid) }
    else
      assert_equal 0, top.kill_all(:KILL, 5), "v1: the group's own processes only"
      assert_equal pids.sort, top.procs(true).sort
    end
  end
end
