# Any interface file by name (Cgroup#read_file, #write_file, [] and []=):
# what is written lands in the kernel's file and takes effect; a file this
# kernel lacks is Unsupported; a group that is gone is NotFound.

PREFIX = CgroupTest.prefix

def v2?(controller)
  CgroupTest.version(controller) == 2
end

assert('write_file writes a file the attribute table does not list, and it bites') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/any").create
    if v2?('pids')
      # cgroup.max.descendants: 1 lets one child group be made, not two
      assert_equal "max", g.read_file("cgroup.max.descendants")
      assert_equal g, g.write_file("cgroup.max.descendants", 1), "returns self"
      assert_equal "1", CgroupTest.kernel_file('pids', g.group_name, 'cgroup.max.descendants').chomp
      assert_equal "1", g["cgroup.max.descendants"]
      Cgroup::PIDS.new("#{PREFIX}/any/one").create
      e = assert_raise(Cgroup::Error) { Cgroup::PIDS.new("#{PREFIX}/any/two").create }
      assert_false CgroupTest.dir?("#{CgroupTest.mount('pids')}#{PREFIX}/any/two"), e.message
    else
      # notify_on_release, a v1 file of every hierarchy
      assert_equal "0", g["notify_on_release"]
      g["notify_on_release"] = "1"
      assert_equal "1", CgroupTest.kernel_file('pids', g.group_name, 'notify_on_release').chomp
      assert_equal "1", g.read_file("notify_on_release")
    end
    # pids.max through the generic path: a fork past it is refused
    g.write_file("pids.max", "2")
    assert_equal "2", CgroupTest.kernel_file('pids', g.group_name, 'pids.max').chomp
    assert_equal [1, nil], CgroupTest.wait(CgroupTest.start_in(g, "fork", 3))
  end
end

assert('read_file returns the whole text, multi-line files included, without the last newline') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/text").create
    text = CgroupTest.kernel_file('memory', g.group_name, 'memory.stat')
    got = g.read_file("memory.stat")
    assert_equal text.lines.first.split(" ").first, got.lines.first.split(" ").first
    assert_equal text.lines.size, got.lines.size
    assert_false got.end_with?("\n")
  end
end

assert('a value the kernel refuses raises InvalidValue naming the group, the file and the value') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/refused").create
    e = assert_raise(Cgroup::InvalidValue) { g.write_file("pids.max", "many") }
    assert_equal "pids.max", e.file
    assert_equal "many", e.value
    assert_equal g.group_name, e.group
    assert_equal "max", CgroupTest.kernel_file('pids', g.group_name, 'pids.max').chomp
  end
end

assert('a file this kernel lacks is Unsupported; a group that is gone is NotFound') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/lacks").create
    e = assert_raise(Cgroup::Unsupported) { g.read_file("memory.no_such_file") }
    assert_equal "memory.no_such_file", e.file
    assert_raise(Cgroup::Unsupported) { g.write_file("memory.no_such_file", 1) }
    gone = Cgroup::MEMORY.new("#{PREFIX}/gone")
    assert_raise(Cgroup::NotFound) { gone.read_file(v2?('memory') ? "memory.max" : "memory.limit_in_bytes") }
    assert_raise(Cgroup::NotFound) { gone.write_file(v2?('memory') ? "memory.max" : "memory.limit_in_bytes", 1) }
  end
end

assert('read_file of a pid list gives the kernel\'s list of the moment, not the one an earlier read saw') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/pidlist").create
    files = g.version == 1 ? %w[cgroup.procs tasks] : %w[cgroup.procs cgroup.threads]
    files.each { |f| assert_equal "", g.read_file(f), "#{f} before" }
    pid = Cgroup.spawn([g], "sleep", "30")
    begin
      files.each do |f| # v1 ties a pid list to the open file for a second: a kept one reads it stale
        assert_equal pid.to_s, g.read_file(f), "#{f} right after the spawn"
        assert_equal pid.to_s, g[f], "#{f} through []"
      end
    ensure
      CgroupTest.kill(pid)
      Cgroup.wait(pid)
    end
    files.each { |f| assert_equal "", g.read_file(f), "#{f} once the child was reaped" }
  end
end
