# The descriptors the gem keeps open (src/kept_files.c): how many, and that a file closed, reused,
# removed or opened by another user behind the gem's back is never misused.

PREFIX = CgroupTest.prefix

# what each of this process's open descriptors refers to, as [fd, path] pairs
def open_files
  CgroupTest.entries("/proc/self/fd").map { |fd| [fd.to_i, CgroupTest.fd_path(fd.to_i)] }.select { |_, path| path }
end

# the descriptor open on path, or nil
def fd_of(path)
  pair = open_files.find { |_, p| p == path }
  pair && pair[0]
end

# a PIDS group under the prefix, made, with max 5 written by modify
def pids_group_with_max(name)
  g = Cgroup::PIDS.new("#{PREFIX}/#{name}").create
  g.max = 5
  g.modify
  g
end

# the pids.max file of a group, as the kernel shows it
def max_file(g)
  "#{CgroupTest.group_dir('pids', g.group_name)}/pids.max"
end

# these tests change their own credentials and files' owners: root only
def needs_root
  skip "needs root to change credentials and owners (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
end

# a PIDS group as pids_group_with_max makes it, whose pids.max then belongs to nobody; and the file
def nobodys_max(name)
  g = pids_group_with_max(name)
  CgroupTest.chown(max_file(g), 65534, 65534)
  [g, max_file(g)]
end

# the cgroup files under this run's prefix that this process holds open
def kept_group_files
  under = "#{CgroupTest.mount('pids')}#{PREFIX}/"
  open_files.map { |_, p| p }.select { |p| p.start_with?(under) }
end

assert('attach keeps at most four /proc files open and never reads a reaped task through one') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/kept").create
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
  end
end

assert('descriptors closed behind the gem\'s back and reused are neither used nor closed') do
  decoy = CgroupTest.scratch("decoy")
  decoys = []
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/decoy").create
    pid = CgroupTest.spawn("sleep")
    before = CgroupTest.group_of(pid, 'pids')
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
    assert_include CgroupTest.pids_in('pids', g.group_name), pid
    g.detach(pid)
    assert_equal before, CgroupTest.group_of(pid, 'pids'), "back where it was, not in /decoy"
    assert_equal "", CgroupTest.read(tasks), "nothing written into the decoy"
    assert_equal [decoy, "#{decoy}/cgroup"], decoys.map { |fd| CgroupTest.fd_path(fd) }, "still open"
  ensure
    decoys.each { |fd| CgroupTest.close_fd(fd) }
    CgroupTest.wait(CgroupTest.run("/bin/rm", "-rf", decoy))
  end
end

assert('modify keeps the sixteen files written last open; delete closes those of its groups') do
  CgroupTest.isolate do
    groups = (1..20).map { |i| pids_group_with_max("w#{i}") }
    assert_equal (5..20).map { |i| "#{CgroupTest.group_dir('pids', "#{PREFIX}/w#{i}")}/pids.max" }.sort, kept_group_files.sort
    groups.each(&:delete)
    assert_equal [], kept_group_files
  end
end

assert('a group removed and made again behind the gem\'s back gets the reads and writes that follow') do
  CgroupTest.isolate do
    g = pids_group_with_max("again")
    assert_equal 5, g.max
    pid = CgroupTest.spawn("sleep")
    g.attach(pid)
    g.detach(pid)
    dir = CgroupTest.group_dir('pids', g.group_name)
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.run("/bin/rmdir", dir))
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.run("/bin/mkdir", dir))
    assert_equal(-1, g.max, "the new group's own value")
    g.max = 7
    g.modify
    assert_equal "7", CgroupTest.read("#{dir}/pids.max").strip
    g.attach(pid)
    assert_equal [pid], CgroupTest.pids_in('pids', g.group_name)
    g.detach(pid)
    assert_equal [], CgroupTest.pids_in('pids', g.group_name)
  end
end

assert('a counter read again through its kept file gives the kernel\'s value of the moment') do
  CgroupTest.isolate do
    g = pids_group_with_max("counter")
    pid = CgroupTest.spawn("sleep")
    counts = [g.current]
    g.attach(pid)
    counts << g.current
    g.detach(pid)
    counts << g.current
    assert_equal [0, 1, 0], counts
    assert_include kept_group_files, "#{CgroupTest.group_dir('pids', g.group_name)}/pids.current"
  end
end

assert('a written file\'s descriptor closed behind the gem\'s back and reused is neither written nor closed') do
  decoy = CgroupTest.scratch("decoy-file")
  fd = nil
  CgroupTest.isolate do
    g = pids_group_with_max("decoy-file")
    file = max_file(g)
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
  end
end

assert('a file kept open by root is not written through once the effective user is nobody') do
  needs_root
  CgroupTest.isolate do
    g = pids_group_with_max("creds")
    file = max_file(g)
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
  end
end

# run the block as nobody (euid and egid 65534) with these supplementary groups, then root again
def as_nobody(groups)
  home = CgroupTest.groups
  CgroupTest.set_groups(groups)
  CgroupTest.set_euid(65534)
  yield
ensure
  CgroupTest.set_euid(0)
  CgroupTest.set_groups(home)
end

assert('a file kept open through a supplementary group is not written once the group is dropped') do
  needs_root
  CgroupTest.isolate do
    g = pids_group_with_max("groups")
    file = max_file(g)
    CgroupTest.chown(file, 0, 4242)
    CgroupTest.chmod(file, 0o664) # writable through group 4242 only
    as_nobody([4242]) do
      g.max = 6
      g.modify # opened anew as nobody, through group 4242, and kept
      assert_include kept_group_files, file
    end
    as_nobody([]) do # the same euid and egid, without the group: a fresh open is refused
      g.max = 7
      e = assert_raise(Cgroup::PermissionDenied) { g.modify }
      assert_equal ["pids.max", "7"], [e.file, e.value]
    end
    assert_equal "6", CgroupTest.read(file).strip
  end
end

assert('a file kept open by root through CAP_DAC_OVERRIDE is not written once that is dropped') do
  needs_root
  CgroupTest.isolate do
    g, file = nobodys_max("caps") # mode 0644: root writes it only through the capability
    g.max = 6
    g.modify
    begin
      CgroupTest.dac_override(false)
      g.max = 7
      assert_raise(Cgroup::PermissionDenied) { g.modify }
    ensure
      CgroupTest.dac_override(true)
    end
    assert_equal "6", CgroupTest.read(file).strip
    g.modify # the capability back: the staged value lands
    assert_equal "7", CgroupTest.read(file).strip
  end
end

assert('a delegated file taken back by an operator (chown to root) is not written through the kept descriptor') do
  needs_root
  CgroupTest.isolate do
    g, file = nobodys_max("taken") # delegated to nobody
    as_nobody([]) do
      g.max = 6
      g.modify # opened as nobody and kept
    end
    CgroupTest.chown(file, 0, 0) # the operator takes it back
    as_nobody([]) do
      g.max = 7
      assert_raise(Cgroup::PermissionDenied) { g.modify }
    end
    assert_equal "6", CgroupTest.read(file).strip
  end
end

assert('a file kept open by root is not written through once the file-system uid is nobody\'s (setfsuid), even where no capability changes with it') do
  needs_root
  CgroupTest.isolate do
    g = pids_group_with_max("fsuid")
    file = max_file(g)
    got = CgroupTest.in_child do # a file server's worker: no file-system capability, then the client's fsuid
      CgroupTest.drop_fs_caps
      g.max = 6
      g.modify # opened as root, the file's owner: kept
      CgroupTest.set_fsgid(65534)
      CgroupTest.set_fsuid(65534)
      g.max = 7
      g.modify
    end
    assert_equal "raised Cgroup::PermissionDenied", got.split(": ")[0], "as a fresh open gets (#{got})"
    assert_equal "6", CgroupTest.read(file).strip
  end
end

STRACE = "/usr/bin/strace"

# The calls (strace's trace= list) a separate mruby made, as uid, running script with args: its
# stdout, exit status and the trace's lines. LeakSanitizer cannot run under ptrace: an ASan
# build's mruby is traced without it.
def traced(uid, calls, script, *args)
  log = CgroupTest.scratch("kept-trace")
  out, status, = CgroupTest.capture_as(uid, STRACE, "-f", "-qq", "-e", "trace=#{calls}", "-o", log,
                                       "/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0",
                                       TEST_ARGS['mruby_bin'], "-e", script, *args)
  lines = CgroupTest.file?(log) ? CgroupTest.read(log).split("\n") : []
  CgroupTest.unlink(log) if CgroupTest.file?(log)
  [out, status, lines]
end

# the lines of a trace that are calls of name
def calls_of(lines, name)
  lines.select { |l| l.include?(" #{name}(") }
end

assert('a worker that dropped root for good reads its credentials once, not before each use of a kept file; close_kept has them read again') do
  needs_root
  skip "no strace here (#{STRACE}): the calls are seen only by tracing" unless CgroupTest.file?(STRACE)
  CgroupTest.isolate do
    g, file = nobodys_max("settled")
    script = "g = Cgroup::PIDS.new(ARGV[0]); 8.times { |i| g.max = 10 + i; g.modify }; " \
             "Cgroup.close_kept; 8.times { |i| g.max = 20 + i; g.modify }; puts g.max"
    out, status, lines = traced(65534, "capget,getgroups,pwrite64", script, g.group_name)
    assert_equal ["27\n", 0], [out, status]
    assert_equal 16, lines.select { |l| l.include?("pwrite64(") }.size, "each value written"
    # user, group and every id one, no capability: nothing can change them, but
    # close_kept (after entering a user namespace, say) has them read anew
    assert_equal 2, calls_of(lines, "capget").size
    assert_equal 2, calls_of(lines, "getgroups").size
    assert_equal "27", CgroupTest.read(file).strip
  end
end

assert('root reads its credentials once per modify, whatever it writes, and again at the next call') do
  needs_root
  skip "no strace here (#{STRACE}): the calls are seen only by tracing" unless CgroupTest.file?(STRACE)
  skip "cpu is not available here" unless CgroupTest.version('cpu')
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/cycle").create
    script = "g = Cgroup::CPU.new(ARGV[0]); 4.times { |i| g.shares = 500 + i; " \
             "g.cfs_period_us = 100_000; g.cfs_quota_us = 20_000 + i; g.modify }; puts g.shares"
    out, status, lines = traced(0, "capget,pwrite64", script, g.group_name)
    assert_equal ["503\n", 0], [out, status]
    assert_true lines.select { |l| l.include?("pwrite64(") }.size >= 12, "three values written each time"
    # one cycle per modify (its three values, their v2 partner files), and
    # one for the reader: a credential change between calls is seen
    assert_equal 5, calls_of(lines, "capget").size
  end
end

assert('a credential change inside a Cgroup.with block is seen by the move back: refused, as a fresh open would be') do
  needs_root
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/with-drop").create
    got = CgroupTest.in_child do # a child, attached itself (never the test runner)
      Cgroup.with(g) {} # both move files opened as root, and kept
      begin
        Cgroup.with(g) { CgroupTest.set_euid(65534) }
        "moved back as nobody"
      rescue Cgroup::PermissionDenied
        CgroupTest.set_euid(0)
        CgroupTest.group_of(CgroupTest.tid, 'pids') == g.group_name ? "refused, still in the group" : "refused elsewhere"
      end
    end
    assert_equal 'returned "refused, still in the group"', got
  end
end

assert('credentials read on a thread are that thread\'s: a thread that is nobody for good never uses a file root opened') do
  needs_root
  CgroupTest.isolate do
    g = pids_group_with_max("thread") # pids.max root's, mode 0644
    file = max_file(g)
    write_as_nobody = lambda do |value|
      CgroupTest.on_thread_as(65534) do
        g.max = value
        begin
          g.modify
          "written"
        rescue Cgroup::PermissionDenied
          "refused"
        end
      end
    end
    got = CgroupTest.in_child do # where this process's own threads may change ids
      said = [write_as_nobody.call(7)]
      g.max = 8
      g.modify # this thread, still root: opened anew as root
      said << write_as_nobody.call(9) << CgroupTest.read(file).strip
    end
    assert_equal 'returned ["returned \"refused\"", "returned \"refused\"", "8"]', got
  end
end

# a PSI trigger of group whose descriptor is closed behind its back and
# then taken by a file of the program's own; that descriptor
def trigger_robbed_of_its_fd(group)
  t = group.trigger(:cpu, :some, 100_000, 2_000_000)
  fd = t.fileno
  CgroupTest.close_fd(fd)
  mine = CgroupTest.open_fd("/dev/null") # the lowest number free: the same
  assert_equal fd, mine
  [t, mine]
end

assert('a GroupFile (Trigger, Peak) whose descriptor was closed behind its back and reused closes neither on close nor when collected') do
  skip "no PSI files here" unless CgroupTest.mount('pressure') && CgroupTest.file?("#{CgroupTest.mount('pressure')}/cpu.pressure")
  CgroupTest.isolate do
    g = Cgroup::PRESSURE.new("#{PREFIX}/robbed").create
    t, mine = trigger_robbed_of_its_fd(g)
    t.close
    assert_equal "/dev/null", CgroupTest.fd_path(mine), "the program's file is still open after close"
    CgroupTest.close_fd(mine)
    mine = trigger_robbed_of_its_fd(g)[1] # the trigger is garbage from here
    5.times { g.trigger(:cpu, :some, 100_000, 2_000_000).close }
    GC.start
    GC.start
    assert_equal "/dev/null", CgroupTest.fd_path(mine), "and after the trigger was collected"
    CgroupTest.close_fd(mine)
  end
end

assert('a write the kernel answers with ENODEV (no such device) through a kept descriptor is made once, not again on one opened anew') do
  strace = "/usr/bin/strace"
  skip "no strace here (#{strace}): the repeat is one more syscall, seen only by tracing" unless CgroupTest.file?(strace)
  skip "blkio/io is not available here" unless CgroupTest.version('blkio')
  CgroupTest.isolate do
    g = Cgroup::BLKIO.new("#{PREFIX}/nodev").create
    log = CgroupTest.scratch("nodev-strace")
    script = "g = Cgroup::BLKIO.new(ARGV[0]); 2.times { g.throttle_read_bps_device = '250:250 1000'; " \
             "begin; g.modify; rescue Cgroup::NotFound; end }; puts 'done'"
    # LeakSanitizer cannot run under ptrace: an ASan build's mruby is traced without it
    out, status, = CgroupTest.capture_as(CgroupTest.uid, strace, "-f", "-qq", "-e", "trace=pwrite64", "-o", log,
                                         "/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0",
                                         TEST_ARGS['mruby_bin'], "-e", script, g.group_name)
    assert_equal ["done\n", 0], [out, status]
    writes = CgroupTest.read(log).split("\n").select { |l| l.include?("250:250") }
    assert_equal 2, writes.size, "one write per modify: #{writes.inspect}"
    assert_true writes.all? { |l| l.include?("ENODEV") }
    CgroupTest.unlink(log)
  end
end

assert('Cgroup.close_kept closes every descriptor the state keeps; the next call opens what it needs as the program is then') do
  CgroupTest.isolate do
    g = pids_group_with_max("closekept")
    file = max_file(g)
    assert_include kept_group_files, file
    before = CgroupTest.fd_count
    Cgroup.close_kept
    assert_equal [], kept_group_files, "no group file open"
    assert_true CgroupTest.fd_count < before, "the mount directories and /proc files closed too"
    g.max = 8
    g.modify
    assert_equal "8", CgroupTest.read(file).strip
    assert_include kept_group_files, file, "kept again"
  end
end
