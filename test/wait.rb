# Waiting for the kernel (src/wait.c): Cgroup::FREEZER (v1 freezer.state, v2 cgroup.freeze and
# cgroup.events) and MEMORY#wait_for_oom (v1 eventfd, v2 memory.events).

PREFIX = CgroupTest.prefix

# what the kernel says, read without the gem
def kernel_frozen?(group)
  if CgroupTest.version('freezer') == 2
    CgroupTest.kernel_file('freezer', group, "cgroup.events").split("\n").include?("frozen 1")
  else
    CgroupTest.kernel_file('freezer', group, "freezer.state").chomp == "FROZEN"
  end
end

# a new group with a child spinning in it; the child's pid
def spinning_in(group)
  group.create
  CgroupTest.start_in(group, "spin", 30_000)
end

assert('FREEZER#stat: populated counts a process in a child group, as cgroup.events does') do
  g = Cgroup::FREEZER.new("#{PREFIX}/pop")
  CgroupTest.isolate do
    g.create
    assert_equal({ "frozen" => 0, "populated" => 0 }, g.stat)
    pid = spinning_in(Cgroup::FREEZER.new("#{PREFIX}/pop/child"))
    assert_equal [], g.procs, "no process of the group's own"
    assert_equal 1, g.stat["populated"], "its child group has one"
    if CgroupTest.version('freezer') == 2
      assert_include CgroupTest.kernel_file('freezer', g.group_name, 'cgroup.events'), "populated 1"
    end
    CgroupTest.kill(pid, 9)
    CgroupTest.wait(pid)
    assert_true g.wait_empty(5)
    assert_equal 0, g.stat["populated"]
  end
end

assert('FREEZER#freeze stops a busy child (its CPU time stands still) until thaw') do
  g = Cgroup::FREEZER.new("#{PREFIX}/ice")
  CgroupTest.isolate do
    pid = spinning_in(g)
    CgroupTest.sleep(0.1)
    assert_equal ["THAWED", false], [g.state, g.frozen?]
    assert_equal g, g.freeze(5)
    assert_equal ["FROZEN", true, true], [g.state, g.frozen?, kernel_frozen?(g.group_name)]
    assert_equal({ "frozen" => 1, "populated" => 1 }, g.stat)
    before = CgroupTest.cpu_ticks(pid)
    CgroupTest.sleep(0.3)
    assert_equal before, CgroupTest.cpu_ticks(pid), "no CPU time while frozen"
    g.thaw
    assert_equal ["THAWED", false, false], [g.state, g.frozen?, kernel_frozen?(g.group_name)]
    # until its CPU time moves, not a fixed 0.3 s: a loaded machine may give
    # it no tick of CPU in that (20 s only guard against a child never thawed)
    200.times { break if CgroupTest.cpu_ticks(pid) > before; CgroupTest.sleep(0.1) }
    assert_true CgroupTest.cpu_ticks(pid) > before, "runs again after thaw"
  ensure
    g.thaw if g.exist? && g.frozen? # a frozen task cannot die on v1
  end
end

assert('FREEZER refuses the root, a missing group and a bad timeout') do
  e = assert_raise(Cgroup::NotFound) { Cgroup::FREEZER.new("#{PREFIX}/none").freeze }
  assert_equal "#{PREFIX}/none", e.group
  assert_raise(Cgroup::InvalidValue) { Cgroup::FREEZER.new("/").freeze }
  CgroupTest.isolate do
    g = Cgroup::FREEZER.new("#{PREFIX}/t").create
    assert_raise(ArgumentError) { g.freeze(-1) }
    assert_false kernel_frozen?(g.group_name), "nothing was frozen"
    assert_equal g, g.freeze(nil).thaw(nil) # nil: no time limit
  end
end

assert('FREEZER groups are listed by Cgroup.controllers and created, found and deleted') do
  assert_include Cgroup.controllers, "freezer"
  CgroupTest.isolate do
    g = Cgroup::FREEZER.new("#{PREFIX}/made/here").create
    assert_true CgroupTest.dir?("#{CgroupTest.mount('freezer')}#{g.group_name}")
    assert_equal 2, Cgroup.version(:freezer) if CgroupTest.version('freezer') == 2
    g.delete
    assert_false g.exist?
  end
end

assert('kill_all of a frozen group: v2 kills at once; v1 only after thaw, and says so') do
  g = Cgroup::FREEZER.new("#{PREFIX}/icekill")
  CgroupTest.isolate do
    pid = spinning_in(g)
    g.freeze
    if CgroupTest.version('freezer') == 2
      assert_equal 1, g.kill_all(:KILL, 5)
    else
      e = assert_raise(Cgroup::Timeout) { g.kill_all(:KILL, 0.5) }
      assert_equal "cgroup.procs", e.file
      assert_equal [pid], g.procs, "still there, frozen"
      g.thaw
      g.kill_all(:KILL, 5) # thawed, the pending SIGKILL ends it
      assert_equal [], g.procs
    end
    assert_equal [nil, 9], CgroupTest.wait(pid)
  ensure
    g.thaw if g.exist? && g.frozen?
  end
end

assert('MEMORY#wait_for_oom returns true promptly when a child is OOM-killed, false at its timeout') do
  CgroupTest.isolate do
    g = CgroupTest.oom_group("#{PREFIX}/oomwait", 32 << 20)
    started = CgroupTest.now
    assert_false g.wait_for_oom(0.3)
    waited = CgroupTest.now - started
    assert_true waited >= 0.3 && waited < 3, "timed out after #{waited} s"
    pid = CgroupTest.start_in(g, "late_alloc", 256 << 20) # allocates 0.3 s after release
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
  end
end

assert('kill_all waiting for a frozen v1 group keeps the GC arena flat (no growth for as long as it waits)') do
  skip "v1 freezer only: v2 kills frozen tasks" unless CgroupTest.version('freezer') == 1
  g = Cgroup::FREEZER.new("#{PREFIX}/icearena")
  CgroupTest.isolate do
    pid = spinning_in(g)
    g.freeze
    growth = CgroupTest.arena_growth { assert_raise(Cgroup::Timeout) { g.kill_all(:KILL, 1) } }
    assert_true growth < 20, "the arena grew by #{growth} objects in one second"
    g.thaw
    assert_equal [nil, 9], CgroupTest.wait(pid)
  ensure
    g.thaw if g.exist? && g.frozen?
  end
end

assert('freeze refuses a group whose subtree holds a thread of the caller, which would freeze itself for good') do
  g = Cgroup::FREEZER.new("#{PREFIX}/iceself")
  inner = Cgroup::FREEZER.new("#{PREFIX}/iceself/inner")
  CgroupTest.isolate do
    g.create
    inner.create
    pid = CgroupTest.fork
    if pid == 0
      code = begin
        inner.attach
        g.freeze(2)
        0
      rescue Cgroup::InvalidValue
        3
      rescue StandardError
        4
      end
      CgroupTest.exit!(code)
    end
    done = g.wait_empty(5)
    g.thaw if g.frozen? # the child froze itself: let the test go on
    assert_true done, "the caller returned"
    assert_equal [3, nil], CgroupTest.wait(pid)
    assert_equal "THAWED", g.state
  ensure
    g.thaw if g.exist? && g.frozen?
  end
end

assert('a freeze whose state cannot be read back is undone, and says which file it watched') do
  skip "needs root to hand the group's files to nobody (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  g = Cgroup::FREEZER.new("#{PREFIX}/blind")
  CgroupTest.isolate do
    g.create # empty: a freeze is reached at once
    dir = "#{CgroupTest.mount('freezer')}#{g.group_name}"
    v2 = CgroupTest.version('freezer') == 2
    asked, watched = v2 ? %w[cgroup.freeze cgroup.events] : %w[freezer.state freezer.state]
    [asked, watched].uniq.each { |f| CgroupTest.chown("#{dir}/#{f}", 65534, 65534) }
    CgroupTest.chmod("#{dir}/#{watched}", 0o200) # nobody may ask, but not read the state back
    e = begin
      CgroupTest.set_euid(65534)
      assert_raise(Cgroup::PermissionDenied) { g.freeze(5) }
    ensure
      CgroupTest.set_euid(0)
    end
    assert_false kernel_frozen?(g.group_name), "thawed again"
    assert_equal [watched, "FROZEN"], [e.file, e.value]
    assert_include e.message, "could not watch the state (thawed again)"
  ensure
    g.thaw if g.exist? && g.frozen?
  end
end
