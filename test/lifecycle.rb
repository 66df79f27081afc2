# A group's life against the kernel: create (with parents), exist?, modify, delete.

PREFIX = CgroupTest.prefix

assert('create makes the directory (and parents), delete removes it') do
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/a/b")
    assert_false g.exist?
    g.create
    assert_true CgroupTest.dir?(CgroupTest.group_dir('cpu', "#{PREFIX}/a/b"))
    assert_true g.exist?
    g.delete
    assert_false CgroupTest.dir?(CgroupTest.group_dir('cpu', "#{PREFIX}/a/b"))
    assert_false g.exist?
    assert_true CgroupTest.dir?(CgroupTest.group_dir('cpu', "#{PREFIX}/a")), "parents stay"
  end
end

assert('open and close are aliases of create and delete; group_name is normalised') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/alias/")
    assert_equal "#{PREFIX}/alias", g.group_name
    g.open
    assert_true CgroupTest.dir?(CgroupTest.group_dir('pids', g.group_name))
    g.close
    assert_false CgroupTest.dir?(CgroupTest.group_dir('pids', g.group_name))
    assert_equal "/", Cgroup::CPU.new("/").group_name
    assert_equal "#{PREFIX}/alias", Cgroup::PIDS.new("#{PREFIX}/alias"[1..-1]).group_name, "no leading slash"
    base = "/" # what Cgroup.claim returns at a container's root: "#{base}/req" is "/req"
    assert_equal "#{PREFIX}/alias", Cgroup::PIDS.new("#{base}#{PREFIX}/alias").group_name, "one leading //"
    same = Cgroup.group(:pids, "#{PREFIX}/alias")
    assert_equal [Cgroup::PIDS, "#{PREFIX}/alias"], [same.class, same.group_name]
    assert_equal Cgroup::MEMORY, Cgroup.group(:memory, "/a").class
  end
end

assert('create on an existing group keeps it and writes the staged values') do
  CgroupTest.isolate do
    Cgroup::PIDS.new("#{PREFIX}/again").create
    g = Cgroup::PIDS.new("#{PREFIX}/again")
    g.max = 256
    g.create
    assert_equal "256", CgroupTest.kernel_file('pids', g.group_name, "pids.max").chomp
  end
end

assert('a new CPUSET group, and its new parents, can run tasks: cpus and mems are set') do
  CgroupTest.isolate do
    g = Cgroup::CPUSET.new("#{PREFIX}/pin/inner").create
    root = CgroupTest.mount('cpuset')
    if CgroupTest.version('cpuset') == 2
      # v2: empty means "the parent's"; the effective set is what counts
      eff = CgroupTest.read("#{root}/cpuset.cpus.effective").chomp
      assert_equal eff, CgroupTest.kernel_file('cpuset', g.group_name, "cpuset.cpus.effective").chomp
    else
      root_cpus = CgroupTest.read("#{root}/cpuset.cpus").chomp
      assert_equal root_cpus, CgroupTest.kernel_file('cpuset', "#{PREFIX}/pin", "cpuset.cpus").chomp
      assert_equal root_cpus, CgroupTest.kernel_file('cpuset', g.group_name, "cpuset.cpus").chomp
      assert_not_equal "", g.mems
    end
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    assert_include CgroupTest.pids_in('cpuset', g.group_name), pid
  end
end

assert('cgroup v2: each ancestor enables exactly the controllers its children need') do
  skip "memory is served by cgroup v1 here" unless CgroupTest.version('memory') == 2
  CgroupTest.isolate do
    Cgroup::MEMORY.new("#{PREFIX}/tree/a/b").create
    top = CgroupTest.group_dir('memory', PREFIX)
    assert_equal "memory", CgroupTest.read("#{top}/cgroup.subtree_control").chomp
    assert_equal "memory", CgroupTest.read("#{top}/tree/a/cgroup.subtree_control").chomp
    assert_equal "", CgroupTest.read("#{top}/tree/a/b/cgroup.subtree_control").chomp
    # a CPU object on the same, existing group enables cpu on the way down
    cpu = Cgroup::CPU.new("#{PREFIX}/tree/a/b")
    cpu.cfs_quota_us = 50000
    cpu.create
    assert_equal %w[cpu memory], CgroupTest.read("#{top}/tree/a/cgroup.subtree_control").split.sort
    assert_equal "50000 100000", CgroupTest.read("#{top}/tree/a/b/cpu.max").chomp
    # one directory serves every controller on v2: deleting it once removes it
    cpu.delete
    assert_false Cgroup::MEMORY.new("#{PREFIX}/tree/a/b").exist?
  end
end

assert('create that the kernel refuses removes what it made and names the file') do
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/bad/child")
    g.cfs_quota_us = 5 # below the kernel's 1 ms minimum
    e = assert_raise(Cgroup::InvalidValue) { g.create }
    # the error names the file and value the kernel refused
    if CgroupTest.version('cpu') == 2
      assert_equal ["cpu.max", "5 100000"], [e.file, e.value]
    else
      assert_equal ["cpu.cfs_quota_us", "5"], [e.file, e.value]
    end
    assert_equal "#{PREFIX}/bad/child", e.group
    assert_equal 22, e.errno
    assert_false CgroupTest.dir?(CgroupTest.group_dir('cpu', "#{PREFIX}/bad")), "no half-made group"
  end
end

assert('modify of a missing group raises NotFound and writes nothing') do
  g = Cgroup::CPU.new("#{PREFIX}/gone")
  g.shares = 100
  assert_raise(Cgroup::NotFound) { g.modify }
  assert_false CgroupTest.dir?(CgroupTest.group_dir('cpu', g.group_name))
end

assert('the Cgroup methods are public on every class and the errors form a family') do
  g = Cgroup::MEMORY.new("/x")
  %i[create open modify delete close attach detach exist? group_name].each do |m|
    assert_true g.respond_to?(m), "#{m} is public"
  end
  [Cgroup::NotFound, Cgroup::PermissionDenied, Cgroup::InvalidValue, Cgroup::Busy, Cgroup::Unsupported].each do |k|
    assert_true k.ancestors.include?(Cgroup::Error)
  end
  assert_true Cgroup::Error.ancestors.include?(StandardError)
end

assert('a value set and never written warns when its object goes; one whose write raised, or not tried after it, does not') do
  mruby = TEST_ARGS['mruby_bin']
  skip "no mruby binary at #{mruby}" unless CgroupTest.file?(mruby)
  script = <<~'RUBY'
    refused = Cgroup::PIDS.new("#{ARGV[0]}/gone")
    refused.max = 5
    begin
      refused.modify # no such group: NotFound names the value; it stays staged
    rescue Cgroup::NotFound => e
      puts "raised #{e.value}"
    end
    untried = Cgroup::CPU.new("#{ARGV[0]}/gone")
    untried.cfs_quota_us = 5000
    untried.shares = 512
    begin
      untried.modify # the first write says NotFound; the other was not tried, and is not warned about
    rescue Cgroup::NotFound
    end
    forgotten = Cgroup::PIDS.new("#{ARGV[0]}/gone")
    forgotten.max = 6 # never written: the warning is the only sign
  RUBY
  out, status, = CgroupTest.capture_as(CgroupTest.uid, "/bin/sh", "-c", 'exec "$0" -e "$1" "$2" 2>&1', mruby, script, PREFIX)
  assert_equal 0, status, out
  # in either order: mruby 3.3's puts goes through C's stdout, flushed at exit after the warning
  assert_equal ["mruby-cgroup: warning: pids:#{PREFIX}/gone: max = 6 was set but never written " \
                "(call modify or create)", "raised 5"], out.split("\n").sort
end

assert('new refuses a name unless the group and any file of it fit in PATH_MAX; the longest works') do
  CgroupTest.isolate do
    room = 4096 - CgroupTest.mount('pids').length - 1 - 255 - 1 # the longest name new accepts
    segments = (room - PREFIX.length - 2) / 201 # "/" and 200 bytes each, then a shorter last one
    name = PREFIX + ("/" + "s" * 200) * segments
    name += "/" + "t" * (room - name.length - 1)
    assert_equal room, name.length
    g = Cgroup::PIDS.new(name)
    g.max = 5
    g.create
    assert_equal "5", CgroupTest.kernel_file('pids', name, "pids.max").chomp
    g.delete
    e = assert_raise(Cgroup::InvalidValue) { Cgroup::PIDS.new(name + "u") }
    assert_include e.message, "name too long"
  end
end

assert('cgroup v2: a write to a group whose parent does not enable the controller enables it first') do
  skip "cpu and pids are not both served by cgroup v2 here" unless CgroupTest.version('cpu') == 2 && CgroupTest.version('pids') == 2
  CgroupTest.isolate do
    Cgroup::CPU.new("#{PREFIX}/made-for-cpu").create
    g = Cgroup::PIDS.new("#{PREFIX}/made-for-cpu")
    assert_true g.exist?, "one directory for every controller"
    assert_not_include CgroupTest.kernel_file('pids', PREFIX, "cgroup.subtree_control").split, "pids"
    g.max = 5
    g.modify # not Unsupported: create would have enabled pids, and so does a write
    assert_include CgroupTest.kernel_file('pids', PREFIX, "cgroup.subtree_control").split, "pids"
    assert_equal "5", CgroupTest.kernel_file('pids', g.group_name, "pids.max").chomp
  end
end

# ---- a job's whole life: who is in the subtree, moving them, waiting for
# the last one, removing the subtree

def v2?(controller)
  CgroupTest.version(controller) == 2
end

assert('wait_empty: a double-forked grandchild outlives the spawned pid; the wait ends when it exits; delete_tree then removes the subtree') do
  CgroupTest.isolate do
    top = Cgroup::PIDS.new("#{PREFIX}/job").create
    leaf = Cgroup::PIDS.new("#{PREFIX}/job/step").create
    # the shell exits at once; its child, sleep, is reparented and stays in the group
    status = Cgroup.wait(leaf.spawn("/bin/sh", "-c", "sleep 1 & exit 0"))
    assert_true status.success?
    left = top.procs(true)
    assert_equal 1, left.size, "the grandchild is in the subtree (#{left.inspect})"
    assert_equal [], top.procs, "none in the top group itself"
    assert_equal left, CgroupTest.pids_in('pids', leaf.group_name, 'cgroup.procs')
    assert_false top.wait_empty(0.1), "the grandchild still runs"
    assert_true top.wait_empty(10), "empty once it exits"
    assert_equal [], top.procs(true)
    assert_equal 2, top.delete_tree
    assert_false CgroupTest.dir?(CgroupTest.group_dir('pids', top.group_name))
  end
end

assert('delete_tree leaves a group with a live process, says Busy naming it, and succeeds after kill_all') do
  CgroupTest.isolate do
    top = Cgroup::PIDS.new("#{PREFIX}/busy").create
    Cgroup::PIDS.new("#{PREFIX}/busy/a/deep").create
    held = Cgroup::PIDS.new("#{PREFIX}/busy/b").create
    held.attach(CgroupTest.spawn("sleep"))
    e = assert_raise(Cgroup::Busy) { top.delete_tree(0.2) }
    assert_equal held.group_name, e.group
    assert_true held.exist?
    assert_true top.exist?, "its ancestors stay"
    assert_false Cgroup::PIDS.new("#{PREFIX}/busy/a/deep").exist?, "the empty branch went"
    held.kill_all
    assert_equal 2, top.delete_tree, "busy and busy/b"
    assert_false top.exist?
  end
end

assert('procs(true) and tasks(true) list the whole subtree; move_all moves every process to another group') do
  skip "freezer is not available" unless CgroupTest.version('freezer')
  CgroupTest.isolate do
    # FREEZER: on v2 plain directories, so processes may sit in a group
    # that has a child (no controller is enabled for it)
    from = Cgroup::FREEZER.new("#{PREFIX}/from").create
    inner = Cgroup::FREEZER.new("#{PREFIX}/from/inner").create
    to = Cgroup::FREEZER.new("#{PREFIX}/to").create
    pids = [1, 2, 3].map { CgroupTest.spawn("sleep") }
    pids.first(2).each { |pid| from.attach(pid) }
    inner.attach(pids[2])
    assert_equal pids.first(2).sort, from.procs.sort
    assert_equal pids.sort, from.procs(true).sort
    assert_true pids.all? { |pid| from.tasks(true).include?(pid) }, "each process's main thread"
    assert_equal 2, from.move_all(to)
    assert_equal [], CgroupTest.pids_in('freezer', from.group_name, 'cgroup.procs')
    assert_equal pids.first(2).sort, CgroupTest.pids_in('freezer', to.group_name, 'cgroup.procs').sort
    assert_equal [pids[2]], inner.procs, "move_all takes the group's own processes, not its children's"
    assert_equal 0, from.move_all(to), "nothing left"
    assert_raise(Cgroup::NotFound) { Cgroup::FREEZER.new("#{PREFIX}/nowhere").move_all(to) }
    assert_raise(Cgroup::NotFound) { to.move_all(Cgroup::FREEZER.new("#{PREFIX}/nowhere")) }
    unless v2?('freezer') && v2?('memory') # on v1 the hierarchies are apart
      mem = Cgroup::MEMORY.new("#{PREFIX}/to").create
      e = assert_raise(Cgroup::InvalidValue) { to.move_all(mem) }
      assert_include e.message, "another hierarchy"
    end
  end
end

assert('MEMORY#wait_for_events: a child over memory.high raises the high count; a quiet group gives {} at the timeout') do
  CgroupTest.isolate do
    mem = Cgroup::MEMORY.new("#{PREFIX}/events")
    unless v2?('memory')
      mem.create
      e = assert_raise(Cgroup::Unsupported) { mem.wait_for_events(nil, 0.1) }
      assert_equal "memory.events", e.file
      skip "memory.events is cgroup v2 only"
    end
    mem.high = 8 << 20
    mem.create
    mem.swap_max = 0
    mem.modify
    assert_equal({}, mem.wait_for_events(nil, 0.3), "nothing in the group yet")
    CgroupTest.start_in(mem, "alloc", 64 << 20) # throttled over memory.high
    rose = mem.wait_for_events([:high], 20)
    assert_equal ["high"], rose.keys
    assert_true rose["high"] > 0
    # the child goes on breaching: the kernel's count is at least the rise seen
    high = CgroupTest.kernel_file('memory', mem.group_name, 'memory.events').split("\n").find { |l| l.start_with?("high ") }
    assert_true high.split(" ")[1].to_i >= rose["high"], "#{high} against a rise of #{rose['high']}"
    e = assert_raise(Cgroup::Unsupported) { mem.wait_for_events(["no_such_counter"], 0) }
    assert_equal "no_such_counter", e.value
    assert_raise(ArgumentError) { mem.wait_for_events([], 0) }
    assert_raise(TypeError) { mem.wait_for_events([1], 0) }
  end
end

assert('subtree walks go on while another process makes and removes child groups: a group gone meanwhile holds nothing') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/churn").create
    dir = CgroupTest.group_dir('pids', g.group_name)
    churn = CgroupTest.run("/bin/sh", "-c", "while :; do mkdir #{dir}/c #{dir}/d 2>/dev/null; rmdir #{dir}/d #{dir}/c 2>/dev/null; done")
    failed = []
    begin
      600.times do
        begin
          g.procs(true)
          g.tasks(true)
          Cgroup.groups(:pids, g.group_name)
        rescue Cgroup::Error => e
          failed << e.message
        end
      end
      50.times do
        begin
          assert_true g.wait_empty(0), "nothing runs in it"
        rescue Cgroup::Error => e
          failed << e.message
        end
      end
    ensure
      CgroupTest.kill(churn)
      CgroupTest.wait(churn)
    end
    assert_equal [], failed.uniq, "#{failed.size} walks failed"
  end
end

assert('MEMORY#wait_for_events refuses a key with a NUL byte before it opens anything') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/nulkey").create
    before = CgroupTest.fd_count
    if g.version == 2
      assert_raise(ArgumentError) { g.wait_for_events(["hi\0gh"], 0) }
    else
      assert_raise(ArgumentError, Cgroup::Unsupported) { g.wait_for_events(["hi\0gh"], 0) }
    end
    assert_equal before, CgroupTest.fd_count, "no descriptor left open"
  end
end

# haconiwa's cgroup table, as a v1-era client writes it: "controller.attr" => value
HACONIWA = { "cpuset.cpus" => "0", "cpuset.mems" => "0", "cpu.cfs_period_us" => 100_000,
             "cpu.cfs_quota_us" => 30_000, "memory.limit_in_bytes" => 64 << 20, "pids.max" => 64 }
HACONIWA_CLASSES = { "cpuset" => Cgroup::CPUSET, "cpu" => Cgroup::CPU, "memory" => Cgroup::MEMORY,
                     "pids" => Cgroup::PIDS }

assert('code written for v1 runs unchanged on v1 and v2: one object per controller of one name, set, created, attached, modified, deleted each') do
  missing = HACONIWA_CLASSES.keys.reject { |c| CgroupTest.version(c) }
  skip "#{missing.join(', ')} not available here" unless missing.empty?
  CgroupTest.isolate do
    name = "#{PREFIX}/haconiwa"
    groups = {}
    HACONIWA.each do |key, value| # the client's loop: send("#{attr}=", value) (mruby-metaprog's send)
      controller, attr = key.split(".", 2)
      group = groups[controller] ||= HACONIWA_CLASSES[controller].new(name)
      group.__send__("#{attr.tr('.', '_')}=", value)
    end
    groups.each_value(&:create)
    pid = CgroupTest.spawn("sleep")
    groups.each_value { |g| g.attach(pid) }
    HACONIWA_CLASSES.each_key { |c| assert_equal name, CgroupTest.group_of(pid, c), "#{c}: the container's process" }
    groups["cpu"].cfs_quota_us = 50_000
    groups["cpu"].modify
    quota = CgroupTest.version('cpu') == 2 ? ['cpu.max', "50000 100000"] : ['cpu.cfs_quota_us', "50000"]
    assert_equal quota[1], CgroupTest.kernel_file('cpu', name, quota[0]).strip
    assert_equal "64", CgroupTest.kernel_file('pids', name, 'pids.max').strip
    CgroupTest.kill(pid)
    CgroupTest.wait(pid)
    groups.each_value(&:delete) # on v2 the first removes the one directory; the others find it gone
    groups.each { |c, g| assert_false g.exist?, "#{c} deleted" }
    assert_false CgroupTest.dir?(CgroupTest.group_dir('cpu', name))
  end
end
