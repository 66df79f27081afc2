# create / exist? / delete / attach / detach against the kernel.

PREFIX = CgroupTest.prefix

def group_dir(controller, group)
  "#{CgroupTest.mount(controller)}#{group}"
end

def cgroup_of(pid, controller)
  CgroupTest.group_of(pid, controller)
end

# what each of this process's open descriptors refers to, as [fd, path] pairs
def open_files
  CgroupTest.entries("/proc/self/fd").map { |fd| [fd.to_i, CgroupTest.fd_path(fd.to_i)] }.select { |_, path| path }
end

# the descriptor open on path, or nil
def fd_of(path)
  pair = open_files.find { |_, p| p == path }
  pair && pair[0]
end

# the tasks (v1) or processes (v2: attach moves whole processes) in a group
def tasks_of(controller, group)
  file = CgroupTest.version(controller) == 2 ? "cgroup.procs" : "tasks"
  CgroupTest.read("#{group_dir(controller, group)}/#{file}").split.map(&:to_i)
end

assert('create makes the directory (and parents), delete removes it') do
  begin
    g = Cgroup::CPU.new("#{PREFIX}/a/b")
    assert_false g.exist?
    g.create
    assert_true CgroupTest.dir?(group_dir('cpu', "#{PREFIX}/a/b"))
    assert_true g.exist?
    g.delete
    assert_false CgroupTest.dir?(group_dir('cpu', "#{PREFIX}/a/b"))
    assert_false g.exist?
    assert_true CgroupTest.dir?(group_dir('cpu', "#{PREFIX}/a")), "parents stay"
  ensure
    CgroupTest.cleanup
  end
end

assert('open and close are aliases of create and delete; group_name is normalised') do
  begin
    g = Cgroup::PIDS.new("#{PREFIX}/alias/")
    assert_equal "#{PREFIX}/alias", g.group_name
    g.open
    assert_true CgroupTest.dir?(group_dir('pids', g.group_name))
    g.close
    assert_false CgroupTest.dir?(group_dir('pids', g.group_name))
    assert_equal "/", Cgroup::CPU.new("/").group_name
  ensure
    CgroupTest.cleanup
  end
end

assert('create on an existing group keeps it and writes the staged values') do
  begin
    Cgroup::PIDS.new("#{PREFIX}/again").create
    g = Cgroup::PIDS.new("#{PREFIX}/again")
    g.max = 256
    g.create
    assert_equal "256", CgroupTest.read("#{group_dir('pids', g.group_name)}/pids.max").chomp
  ensure
    CgroupTest.cleanup
  end
end

assert('a new CPUSET group, and its new parents, can run tasks: cpus and mems are set') do
  begin
    g = Cgroup::CPUSET.new("#{PREFIX}/pin/inner")
    g.create
    root = CgroupTest.mount('cpuset')
    if CgroupTest.version('cpuset') == 2
      # v2: empty means "the parent's"; the effective set is what counts
      eff = CgroupTest.read("#{root}/cpuset.cpus.effective").chomp
      assert_equal eff, CgroupTest.read("#{group_dir('cpuset', g.group_name)}/cpuset.cpus.effective").chomp
    else
      root_cpus = CgroupTest.read("#{root}/cpuset.cpus").chomp
      assert_equal root_cpus, CgroupTest.read("#{group_dir('cpuset', "#{PREFIX}/pin")}/cpuset.cpus").chomp
      assert_equal root_cpus, CgroupTest.read("#{group_dir('cpuset', g.group_name)}/cpuset.cpus").chomp
      assert_not_equal "", g.mems
    end
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    assert_include tasks_of('cpuset', g.group_name), pid
  ensure
    CgroupTest.cleanup
  end
end

assert('cgroup v2: each ancestor enables exactly the controllers its children need') do
  skip "memory is served by cgroup v1 here" unless CgroupTest.version('memory') == 2
  begin
    Cgroup::MEMORY.new("#{PREFIX}/tree/a/b").create
    top = group_dir('memory', PREFIX)
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
  ensure
    CgroupTest.cleanup
  end
end

assert('create that the kernel refuses removes what it made and names the file') do
  begin
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
    assert_false CgroupTest.dir?(group_dir('cpu', "#{PREFIX}/bad")), "no half-made group"
  ensure
    CgroupTest.cleanup
  end
end

assert('attach moves a child into tasks; detach returns it to where it was') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/att")
    g.create
    pid = CgroupTest.spawn("sleep")
    before = cgroup_of(pid, 'memory')
    g.attach(pid)
    assert_include tasks_of('memory', g.group_name), pid
    assert_equal g.group_name, cgroup_of(pid, 'memory')
    g.detach
    assert_equal before, cgroup_of(pid, 'memory'), "back in its own group, not the root"
    assert_not_include tasks_of('memory', g.group_name), pid
  ensure
    CgroupTest.cleanup
  end
end

assert('attach without a pid moves the calling thread (cpu), detach brings it back') do
  begin
    g = Cgroup::CPU.new("#{PREFIX}/self")
    g.create
    tid = CgroupTest.tid
    before = cgroup_of(tid, 'cpu')
    g.attach
    assert_equal [tid], tasks_of('cpu', g.group_name)
    g.detach
    assert_equal before, cgroup_of(tid, 'cpu')
    assert_equal [], tasks_of('cpu', g.group_name)
  ensure
    CgroupTest.cleanup
  end
end

assert('attach writes values still staged, so the task never runs under stale limits') do
  begin
    g = Cgroup::PIDS.new("#{PREFIX}/flush")
    g.create
    g.max = 7
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    assert_equal "7", CgroupTest.read("#{group_dir('pids', g.group_name)}/pids.max").chomp
    g.detach(pid)
  ensure
    CgroupTest.cleanup
  end
end

assert('detach falls back to the root when the previous group is gone') do
  begin
    old = Cgroup::PIDS.new("#{PREFIX}/old")
    old.create
    g = Cgroup::PIDS.new("#{PREFIX}/new")
    g.create
    pid = CgroupTest.spawn("sleep")
    old.attach(pid)
    g.attach(pid)
    old.delete
    g.detach(pid)
    assert_equal "/", cgroup_of(pid, 'pids')
  ensure
    CgroupTest.cleanup
  end
end

assert('attach and detach raise with the reason') do
  begin
    missing = Cgroup::CPU.new("#{PREFIX}/missing")
    e = assert_raise(Cgroup::NotFound) { missing.attach }
    assert_equal "#{PREFIX}/missing", e.group
    g = Cgroup::CPU.new("#{PREFIX}/err")
    g.create
    pid = CgroupTest.spawn("sleep")
    CgroupTest.kill(pid)
    CgroupTest.wait(pid)
    e = assert_raise(Cgroup::NotFound) { g.attach(pid) }
    assert_equal pid.to_s, e.value
    assert_raise(Cgroup::InvalidValue) { g.attach(0) }
    assert_raise(Cgroup::InvalidValue) { g.attach(-1) }
    assert_raise(TypeError) { g.attach("1") }
    assert_raise(Cgroup::NotFound) { g.detach } # nothing attached, caller not inside
  ensure
    CgroupTest.cleanup
  end
end

assert('attach keeps at most four /proc files open and never reads a reaped task through one') do
  begin
    g = Cgroup::PIDS.new("#{PREFIX}/kept")
    g.create
    proc_files = lambda do
      open_files.map { |_, p| p }.select { |p| p.start_with?("/proc/") && p.end_with?("/cgroup") }
    end
    counts = [0, 1].map do
      6.times do
        pid = CgroupTest.spawn("sleep")
        g.attach(pid)
        g.detach(pid)
        CgroupTest.kill(pid)
        CgroupTest.wait(pid)
      end
      [proc_files.call.size, CgroupTest.fd_count]
    end
    assert_equal 4, counts[0][0], "/proc files open after 6 tasks"
    assert_equal counts[0], counts[1], "12 tasks keep as many open as 6"
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    g.detach(pid)
    CgroupTest.kill(pid)
    CgroupTest.wait(pid)
    e = assert_raise(Cgroup::NotFound) { g.attach(pid) } # its /proc file is still open
    assert_equal pid.to_s, e.value
  ensure
    CgroupTest.cleanup
  end
end

assert('descriptors closed behind the gem\'s back and reused are neither used nor closed') do
  decoy = "/tmp/mrbcg-decoy-#{PREFIX.split('-').last}"
  decoys = []
  begin
    g = Cgroup::PIDS.new("#{PREFIX}/decoy")
    g.create
    pid = CgroupTest.spawn("sleep")
    before = cgroup_of(pid, 'pids')
    g.attach(pid)
    g.detach(pid)
    dir, proc = [CgroupTest.mount('pids'), "/proc/#{pid}/cgroup"].map { |target| fd_of(target) }
    assert_true !!(dir && proc), "the pids mount and the task's /proc file are kept open"
    # a daemon closes every descriptor and its own files take the numbers: a
    # directory laid out like the mount, a /proc-like file naming another group
    CgroupTest.wait(CgroupTest.run("/bin/mkdir", "-p", "#{decoy}#{g.group_name}"))
    tasks = "#{decoy}#{g.group_name}/#{CgroupTest.version('pids') == 2 ? 'cgroup.procs' : 'tasks'}"
    CgroupTest.write(tasks, "")
    CgroupTest.write("#{decoy}/cgroup", "8:pids:/decoy\n0::/decoy\n")
    CgroupTest.open_as(dir, decoy)
    CgroupTest.open_as(proc, "#{decoy}/cgroup")
    decoys = [dir, proc]
    g.attach(pid)
    assert_include tasks_of('pids', g.group_name), pid
    g.detach(pid)
    assert_equal before, cgroup_of(pid, 'pids'), "back where it was, not in /decoy"
    assert_equal "", CgroupTest.read(tasks), "nothing written into the decoy"
    assert_equal [decoy, "#{decoy}/cgroup"], decoys.map { |fd| CgroupTest.fd_path(fd) }, "still open"
  ensure
    decoys.each { |fd| CgroupTest.close_fd(fd) }
    CgroupTest.wait(CgroupTest.run("/bin/rm", "-rf", decoy))
    CgroupTest.cleanup
  end
end

# a PIDS group under the prefix, made, with max 5 written by modify
def pids_group_with_max(name)
  g = Cgroup::PIDS.new("#{PREFIX}/#{name}")
  g.create
  g.max = 5
  g.modify
  g
end

# kill and wait for a test child, if one was started
def reap(pid)
  return unless pid

  CgroupTest.kill(pid)
  CgroupTest.wait(pid)
end

# the cgroup files under this run's prefix that this process holds open
def kept_group_files
  under = "#{CgroupTest.mount('pids')}#{PREFIX}/"
  open_files.map { |_, p| p }.select { |p| p.start_with?(under) }
end

assert('modify keeps the sixteen files written last open; delete closes those of its groups') do
  begin
    groups = (1..20).map { |i| pids_group_with_max("w#{i}") }
    assert_equal (5..20).map { |i| "#{group_dir('pids', "#{PREFIX}/w#{i}")}/pids.max" }.sort, kept_group_files.sort
    groups.each(&:delete)
    assert_equal [], kept_group_files
  ensure
    CgroupTest.cleanup
  end
end

assert('a group removed and made again behind the gem\'s back gets the reads and writes that follow') do
  begin
    g = pids_group_with_max("again")
    assert_equal 5, g.max
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    g.detach(pid)
    dir = group_dir('pids', g.group_name)
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.run("/bin/rmdir", dir))
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.run("/bin/mkdir", dir))
    assert_equal(-1, g.max, "the new group's own value")
    g.max = 7
    g.modify
    assert_equal "7", CgroupTest.read("#{dir}/pids.max").strip
    g.attach(pid)
    assert_equal [pid], tasks_of('pids', g.group_name)
    g.detach(pid)
    assert_equal [], tasks_of('pids', g.group_name)
  ensure
    reap(pid)
    CgroupTest.cleanup
  end
end

assert('a counter read again through its kept file gives the kernel\'s value of the moment') do
  begin
    g = pids_group_with_max("counter")
    pid = CgroupTest.spawn("sleep")
    counts = [g.current]
    g.attach(pid)
    counts << g.current
    g.detach(pid)
    counts << g.current
    assert_equal [0, 1, 0], counts
    assert_include kept_group_files, "#{group_dir('pids', g.group_name)}/pids.current"
  ensure
    reap(pid)
    CgroupTest.cleanup
  end
end

assert('a written file\'s descriptor closed behind the gem\'s back and reused is neither written nor closed') do
  decoy = "/tmp/mrbcg-decoy-file-#{PREFIX.split('-').last}"
  fd = nil
  begin
    g = pids_group_with_max("decoy-file")
    file = "#{group_dir('pids', g.group_name)}/pids.max"
    fd = fd_of(file)
    assert_not_nil fd, "pids.max is kept open"
    CgroupTest.write(decoy, "")
    CgroupTest.open_as(fd, decoy, true) # a program's own file, open for writing
    g.max = 9
    g.modify
    assert_equal "9", CgroupTest.read(file).strip
    assert_equal "", CgroupTest.read(decoy), "nothing written into the program's file"
    assert_equal decoy, CgroupTest.fd_path(fd), "still open"
  ensure
    CgroupTest.close_fd(fd) if fd
    CgroupTest.unlink(decoy)
    CgroupTest.cleanup
  end
end

assert('a file kept open by root is not written through once the effective user is nobody') do
  begin
    g = pids_group_with_max("creds")
    file = "#{group_dir('pids', g.group_name)}/pids.max"
    assert_include kept_group_files, file
    begin
      CgroupTest.set_euid(65534)
      g.max = 6
      e = assert_raise(Cgroup::PermissionDenied) { g.modify }
      assert_equal ["pids.max", "6"], [e.file, e.value]
    ensure
      CgroupTest.set_euid(0)
    end
    assert_equal "5", CgroupTest.read(file).strip
    g.modify # root again: the value still staged is written
    assert_equal "6", CgroupTest.read(file).strip
  ensure
    CgroupTest.cleanup
  end
end

assert('delete raises for a missing group, for a busy group and for the root') do
  begin
    assert_raise(Cgroup::NotFound) { Cgroup::CPU.new("#{PREFIX}/nothing").delete }
    assert_raise(Cgroup::InvalidValue) { Cgroup::CPU.new("/").delete }
    g = Cgroup::PIDS.new("#{PREFIX}/busy")
    g.create
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    assert_raise(Cgroup::Busy) { g.delete }
    assert_true CgroupTest.dir?(group_dir('pids', g.group_name))
    Cgroup::PIDS.new("#{PREFIX}/busy/kid").create
    g.detach
    assert_raise(Cgroup::Busy) { g.delete } # a child group
  ensure
    CgroupTest.cleanup
  end
end

assert('modify of a missing group raises NotFound and writes nothing') do
  g = Cgroup::CPU.new("#{PREFIX}/gone")
  g.shares = 100
  assert_raise(Cgroup::NotFound) { g.modify }
  assert_false CgroupTest.dir?(group_dir('cpu', g.group_name))
end

assert('names that could leave the cgroup tree are refused') do
  ["", "//", "/a//", "/a/../b", "..", "a//b", "a\nb", "a\0b", "./a", "x" * 256].each do |bad|
    e = assert_raise(Cgroup::InvalidValue) { Cgroup::CPU.new(bad) }
    assert_equal "cpu", e.controller
  end
  assert_raise(TypeError) { Cgroup::CPU.new(nil) }
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

assert('an object made with allocate raises instead of crashing') do
  assert_raise(TypeError) { Cgroup::CPU.allocate.create }
end
