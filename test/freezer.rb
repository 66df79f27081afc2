# Cgroup::FREEZER: v1 freezer.state, v2 cgroup.freeze / cgroup.events.

PREFIX = CgroupTest.prefix

def freezer_file(group, file)
  CgroupTest.read("#{CgroupTest.mount('freezer')}#{group}/#{file}")
end

# what the kernel says, read without the gem
def kernel_frozen?(group)
  if CgroupTest.version('freezer') == 2
    freezer_file(group, "cgroup.events").split("\n").include?("frozen 1")
  else
    freezer_file(group, "freezer.state").chomp == "FROZEN"
  end
end

# a new group with a child spinning in it; the child's pid
def spinning_in(group)
  group.create
  pid = CgroupTest.spawn("spin", 30_000)
  group.attach(pid)
  CgroupTest.release(pid)
  pid
end

assert('FREEZER#freeze stops a busy child (its CPU time stands still) until thaw') do
  g = Cgroup::FREEZER.new("#{PREFIX}/ice")
  begin
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
    CgroupTest.sleep(0.3)
    assert_true CgroupTest.cpu_ticks(pid) > before, "runs again after thaw"
  ensure
    g.thaw if g.exist? && g.frozen? # a frozen task cannot die on v1
    CgroupTest.cleanup
  end
end

assert('FREEZER refuses the root, a missing group and a bad timeout') do
  e = assert_raise(Cgroup::NotFound) { Cgroup::FREEZER.new("#{PREFIX}/none").freeze }
  assert_equal "#{PREFIX}/none", e.group
  assert_raise(Cgroup::InvalidValue) { Cgroup::FREEZER.new("/").freeze }
  g = Cgroup::FREEZER.new("#{PREFIX}/t")
  begin
    g.create
    assert_raise(ArgumentError) { g.freeze(-1) }
    assert_false kernel_frozen?(g.group_name), "nothing was frozen"
    assert_equal g, g.freeze(nil).thaw(nil) # nil: no time limit
  ensure
    CgroupTest.cleanup
  end
end

assert('FREEZER groups are listed by Cgroup.controllers and created, found and deleted') do
  assert_include Cgroup.controllers, "freezer"
  g = Cgroup::FREEZER.new("#{PREFIX}/made/here")
  begin
    g.create
    assert_true CgroupTest.dir?("#{CgroupTest.mount('freezer')}#{g.group_name}")
    assert_equal 2, Cgroup.version(:freezer) if CgroupTest.version('freezer') == 2
    g.delete
    assert_false g.exist?
  ensure
    CgroupTest.cleanup
  end
end

assert('kill_all of a frozen group: v2 kills at once; v1 only after thaw, and says so') do
  g = Cgroup::FREEZER.new("#{PREFIX}/icekill")
  begin
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
    CgroupTest.cleanup
  end
end
