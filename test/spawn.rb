# Running commands in groups (spawn, wait) and per-request blocks (attach
# with a block, Cgroup.with).

PREFIX = CgroupTest.prefix
MRUBY = TEST_ARGS['mruby_bin']

assert('spawn runs a command already inside every group given; wait gives its status') do
  CgroupTest.isolate do
    cpu = Cgroup::CPU.new("#{PREFIX}/run").create
    pids = Cgroup::PIDS.new("#{PREFIX}/run").create
    pids.max = 5 # staged: spawn writes it before the child joins
    out = CgroupTest.scratch("spawn")
    pid = Cgroup.spawn([cpu, pids], "/bin/sh", "-c", "cat /proc/self/cgroup > #{out}; exit 3")
    status = Cgroup.wait(pid)
    assert_equal [pid, 3, nil, false, false], [status.pid, status.exitstatus, status.termsig,
                                               status.success?, status.oom_killed?]
    seen = CgroupTest.read(out)
    [[cpu, 'cpu'], [pids, 'pids']].each do |g, c|
      line = seen.split("\n").find { |l| CgroupTest.version(c) == 2 ? l.start_with?("0::") : l.split(":")[1].split(",").include?(c) }
      assert_equal g.group_name, line.split(":", 3)[2], "the shell ran in #{c}:#{g.group_name}"
    end
    assert_equal "5", CgroupTest.kernel_file('pids', pids.group_name, "pids.max").chomp
    assert_true Cgroup.wait(pids.spawn("/bin/true")).success?
    CgroupTest.unlink(out)
  end
end

assert('spawn into groups of different names: each its own on v1, refused on v2') do
  CgroupTest.isolate do
    cpu = Cgroup::CPU.new("#{PREFIX}/one").create
    pids = Cgroup::PIDS.new("#{PREFIX}/two").create
    if CgroupTest.version('cpu') == 2 && CgroupTest.version('pids') == 2
      e = assert_raise(Cgroup::InvalidValue) { Cgroup.spawn([cpu, pids], "/bin/true") }
      assert_equal pids.group_name, e.value
      assert_equal [[], []], [cpu.procs, pids.procs], "nothing was started"
    else
      pid = Cgroup.spawn([cpu, pids], "/bin/sleep", "5")
      begin
        assert_equal [cpu.group_name, pids.group_name], [CgroupTest.group_of(pid, 'cpu'), CgroupTest.group_of(pid, 'pids')]
      ensure
        CgroupTest.kill(pid)
        Cgroup.wait(pid)
      end
    end
  end
end

assert('spawn reports a command that cannot run and a group that does not exist') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/bad").create
    e = assert_raise(Cgroup::NotFound) { g.spawn("/nonexistent/command") }
    assert_equal "/nonexistent/command", e.value
    assert_raise(Cgroup::NotFound) { Cgroup::PIDS.new("#{PREFIX}/none").spawn("/bin/true") }
    assert_raise(ArgumentError) { g.spawn }
    assert_raise(ArgumentError) { Cgroup.spawn([], "/bin/true") }
    assert_equal [], g.procs, "no child left behind"
  end
end

assert('Cgroup.spawn_in and Cgroup.waitpid: the child starts in the group; [status, nil] or [nil, signal]; Status#via and #signaled?') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/primitive").create
    pid = Cgroup.spawn_in([g], ["/bin/sh", "-c", "exit 3"])
    assert_equal [3, nil], Cgroup.waitpid(pid)
    pid = Cgroup.spawn_in([g], ["/bin/sleep", "30"])
    assert_equal [pid], g.procs, "in the group: #{g.procs.inspect}"
    CgroupTest.kill(pid, 9)
    assert_equal [nil, 9], Cgroup.waitpid(pid)
    killed = Cgroup.wait(g.spawn("/bin/sh", "-c", "kill -TERM $$"))
    assert_equal [true, false, 15, nil], [killed.signaled?, killed.success?, killed.termsig, killed.exitstatus]
    status = Cgroup.wait(g.spawn("/bin/true"))
    assert_false status.signaled?
    assert_equal(CgroupTest.version('pids') == 2 ? :clone3 : :fork, status.via, "born in its v2 group, or forked and moved (v1)")
  end
end

assert('spawn into a v2 group at pids.max: clone3 says EAGAIN, raised as Cgroup::Error itself naming the group') do
  skip "pids is served by cgroup v1 here: clone3 births only into v2 groups" unless CgroupTest.version('pids') == 2
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/nofork")
    g.max = 0
    g.create
    e = assert_raise(Cgroup::Error) { g.spawn("/bin/true") }
    assert_equal [Cgroup::Error, 11, g.group_name], [e.class, e.errno, e.group]
    assert_equal [], g.procs
  end
end

assert('wait on a pid that is not a child, or was reaped already, raises Cgroup::NotFound (ECHILD)') do
  e = assert_raise(Cgroup::NotFound) { Cgroup.wait(1) }
  assert_equal 10, e.errno
  assert_include e.message, "pid 1 is not a child"
  CgroupTest.isolate do
    pid = Cgroup::PIDS.new("#{PREFIX}/reaped").create.spawn("/bin/true")
    assert_true Cgroup.wait(pid).success?
    assert_raise(Cgroup::NotFound) { Cgroup.wait(pid) }
  end
  assert_raise(Cgroup::InvalidValue) { Cgroup.wait(0) }
end

assert('wait says a spawned child was OOM-killed in its MEMORY group') do
  skip "no mruby binary at #{MRUBY}" unless CgroupTest.file?(MRUBY)
  CgroupTest.isolate do
    g = CgroupTest.oom_group("#{PREFIX}/oomrun", 32 << 20)
    status = Cgroup.wait(g.spawn(MRUBY, "-e", "a = []; 100.times { a << ('x' * (4 << 20)) }"))
    assert_equal [nil, 9, true], [status.exitstatus, status.termsig, status.oom_killed?]
    killed = Cgroup.wait(g.spawn("/bin/sh", "-c", "kill -9 $$"))
    assert_equal [9, false], [killed.termsig, killed.oom_killed?], "SIGKILL without an OOM"
    assert_false status.oom_group_killed?, "one process killed, not its group"
  end
end

# The file a MEMORY group's OOM kills are counted in.
def oom_count_file
  CgroupTest.version('memory') == 2 ? "memory.events" : "memory.oom_control"
end

assert('spawn raises what keeps it from reading a MEMORY group\'s OOM count (never "not OOM-killed" later), and starts nothing') do
  skip "needs root to make a child nobody (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  skip "memory is not available here" unless CgroupTest.version('memory')
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/unreadable").create
    CgroupTest.chmod("#{CgroupTest.group_dir('memory', g.group_name)}/#{oom_count_file}", 0)
    said = CgroupTest.in_child do
      CgroupTest.become(65534)
      Cgroup.spawn([g], "/bin/true")
    end
    assert_include said, "raised Cgroup::PermissionDenied"
    assert_include said, "read #{oom_count_file}", "the count's file, before any child is started"
    assert_equal [], g.procs
  end
end

assert('wait keeps the status of a SIGKILLed child whose MEMORY group\'s OOM count became unreadable: oom_killed? raises why') do
  skip "needs root to make a child nobody (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  skip "memory is not available here" unless CgroupTest.version('memory')
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/unreadable-later").create
    file = "#{CgroupTest.group_dir('memory', g.group_name)}/#{oom_count_file}"
    said = CgroupTest.in_child do
      pid = g.spawn("/bin/sleep", "30")
      CgroupTest.kill(pid, 9) # a SIGKILL: wait then asks the count whether the OOM killer sent it
      CgroupTest.chmod(file, 0)
      CgroupTest.become(65534)
      status = Cgroup.wait(pid)
      e = begin
        status.oom_killed?
      rescue Cgroup::Error => x
        x
      end
      [status.termsig, e.class, e.file, status.inspect.include?("OOM kill unknown")]
    end
    assert_equal "returned [9, Cgroup::PermissionDenied, #{oom_count_file.inspect}, true]", said
  end
end

assert('wait says a spawned job was OOM-killed with its whole group (memory.oom.group)') do
  skip "no mruby binary at #{MRUBY}" unless CgroupTest.file?(MRUBY)
  skip "memory.oom.group is cgroup v2 only" unless CgroupTest.version('memory') == 2
  CgroupTest.isolate do
    g = CgroupTest.oom_group("#{PREFIX}/oomjob", 32 << 20)
    g.oom_group = true
    g.modify
    unless g.raw_events.key?("oom_group_kill")
      skip "this kernel does not count oom_group_kill (5.17)"
    end
    # a shell with a sleeping child and an allocating one
    status = Cgroup.wait(g.spawn("/bin/sh", "-c", "sleep 100 & #{MRUBY} -e \"a = []; 100.times { a << ('x' * (4 << 20)) }\"; wait"))
    assert_equal [9, true, true], [status.termsig, status.oom_killed?, status.oom_group_killed?]
    assert_true g.raw_events["oom_group_kill"] >= 1
    assert_include status.inspect, "with its group"
  end
end

assert('attach with a block moves the calling thread for the block only, even when it raises') do
  skip "cpu is not available" unless CgroupTest.version('cpu')
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/blk").create
    tid = CgroupTest.tid
    home = CgroupTest.group_of(tid, 'cpu')
    inside = g.attach { |x| [x, CgroupTest.group_of(tid, 'cpu')] }
    assert_equal [g, g.group_name], inside
    assert_equal home, CgroupTest.group_of(tid, 'cpu')
    assert_raise(RuntimeError) { g.attach { raise "request failed" } }
    assert_equal home, CgroupTest.group_of(tid, 'cpu'), "back home after the exception"
    g.attach do # nested on the same object: the outer block owns the move
      g.attach { nil }
      assert_equal g.group_name, CgroupTest.group_of(tid, 'cpu')
    end
    assert_equal home, CgroupTest.group_of(tid, 'cpu')
  end
end

assert('attach(pid) with a block, and Cgroup.with for several groups at once') do
  CgroupTest.isolate do
    mem = Cgroup::MEMORY.new("#{PREFIX}/with").create
    pids = Cgroup::PIDS.new("#{PREFIX}/with").create
    child = CgroupTest.spawn("sleep")
    home = [CgroupTest.group_of(child, 'memory'), CgroupTest.group_of(child, 'pids')]
    mem.attach(child) do
      pids.attach(child) do
        assert_equal [mem.group_name, pids.group_name], [CgroupTest.group_of(child, 'memory'), CgroupTest.group_of(child, 'pids')]
      end
    end
    assert_equal home, [CgroupTest.group_of(child, 'memory'), CgroupTest.group_of(child, 'pids')]
    # Cgroup.with moves the calling task: the CPU and PIDS groups (not the
    # memory one: the test runner stays in its memory group)
    cpu = Cgroup::CPU.new("#{PREFIX}/with").create
    tid = CgroupTest.tid
    before = [CgroupTest.group_of(tid, 'cpu'), CgroupTest.group_of(tid, 'pids')]
    seen = Cgroup.with(cpu, pids) { [CgroupTest.group_of(tid, 'cpu'), CgroupTest.group_of(tid, 'pids')] }
    assert_equal [cpu.group_name, pids.group_name], seen
    assert_equal before, [CgroupTest.group_of(tid, 'cpu'), CgroupTest.group_of(tid, 'pids')]
    missing = Cgroup::PIDS.new("#{PREFIX}/none")
    assert_raise(Cgroup::NotFound) { Cgroup.with(cpu, missing) { flunk "not reached" } }
    assert_equal before[0], CgroupTest.group_of(tid, 'cpu'), "the first group was left again"
    assert_raise(ArgumentError) { Cgroup.with(cpu) }
  end
end

assert('a spawned command inherits none of the descriptors the gem keeps open') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/cloexec").create
    g.max = 5
    g.modify # pids.max and the mount directory are now kept open
    mount = CgroupTest.mount('pids')
    kept = CgroupTest.entries("/proc/self/fd").map { |fd| CgroupTest.fd_path(fd.to_i).to_s }
    assert_true kept.any? { |p| p.start_with?(mount) }, "the gem keeps #{mount} files open"
    out = CgroupTest.scratch("fds")
    status = Cgroup.wait(g.spawn("/bin/sh", "-c", "for f in /proc/$$/fd/*; do readlink $f; done > #{out}; exit 0"))
    assert_true status.success?
    inherited = CgroupTest.read(out).split("\n")
    CgroupTest.unlink(out)
    assert_include inherited, out, "the listing saw the command's own descriptors"
    assert_equal [], inherited.select { |p| p.start_with?(mount) || (p.start_with?("/proc/") && p.end_with?("/cgroup")) }
  end
end

assert('with SIGCHLD ignored, wait raises Cgroup::Unsupported saying why, after the child ended') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/nochld").create
    [true, :nocldwait].each do |how|
      begin
        CgroupTest.ignore_sigchld(how)
        pid = g.spawn("/bin/true")
        e = assert_raise(Cgroup::Unsupported, "SIGCHLD #{how.inspect}") { Cgroup.wait(pid) }
        assert_equal 10, e.errno # ECHILD
        assert_include e.message, "SIGCHLD is ignored"
      ensure
        CgroupTest.ignore_sigchld(false)
      end
    end
    assert_true Cgroup.wait(g.spawn("/bin/true")).success?, "waits again once SIGCHLD is back"
  end
end

assert('spawn keeps records of live children only, and a reused pid never inherits one') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/table").create
    table = Cgroup.__send__(:spawned)
    20.times { Cgroup.waitpid(g.spawn("/bin/true")) } # reaped without Cgroup.wait
    live = g.spawn("/bin/sleep", "5")
    assert_equal [live], table.keys, "the 20 reaped children left no record"
    CgroupTest.kill(live)
    Cgroup.waitpid(live)
    # a record whose start time is not the process's: the pid was reused since
    mem = CgroupTest.oom_group("#{PREFIX}/table", 32 << 20)
    victim = CgroupTest.spawn("sleep")
    table[victim] = [[[mem, -1]], 12345] # an oom_kill count any group exceeds
    CgroupTest.kill(victim)
    status = Cgroup.wait(victim)
    assert_equal [9, false], [status.termsig, status.oom_killed?], "not judged by a stale record"
    assert_false table.key?(victim)
  end
end

# clone3 with CLONE_INTO_CGROUP (5.7): the child is born in its v2 group
assert('spawn says how the child came into its groups: born in a v2 group (clone3), else forked') do
  CgroupTest.isolate do
    v1 = %w[cpu pids memory].find { |c| CgroupTest.version(c) == 1 }
    if v1
      klass = { "cpu" => Cgroup::CPU, "pids" => Cgroup::PIDS, "memory" => Cgroup::MEMORY }[v1]
      g = klass.new("#{PREFIX}/forked").create
      status = Cgroup.wait(g.spawn("/bin/true"))
      assert_equal [true, :fork], [status.success?, status.via], "only v1 groups: forked, then joined"
    end
    if CgroupTest.version('pressure') == 2 || CgroupTest.version('pids') == 2
      g = CgroupTest.version('pids') == 2 ? Cgroup::PIDS.new("#{PREFIX}/born").create : Cgroup::PRESSURE.new("#{PREFIX}/born").create
      others = v1 ? [Cgroup::CPU.new("#{PREFIX}/born").create].select { |o| o.version == 1 } : []
      check = "grep -qx '0::#{g.group_name}' /proc/self/cgroup"
      check += " && grep -q ':cpu[^:]*:#{PREFIX}/born$' /proc/self/cgroup" unless others.empty?
      status = Cgroup.wait(Cgroup.spawn([g, *others], "/bin/sh", "-c", check))
      assert_true status.success?, "the child read its own groups in /proc/self/cgroup"
      # valgrind answers clone3 with ENOSYS: the fork is then the right path
      expected = CgroupTest.clone3? ? :clone3 : :fork
      assert_equal expected, status.via, "born in #{g.group_name} (kernel #{CgroupTest.read('/proc/sys/kernel/osrelease').chomp})"
    end
    assert_nil Cgroup::Status.new(1, 0, nil, false).via
  end
end

assert('spawn from a process whose group is at pids.max: born in a group with room (clone3)') do
  skip "pids is served by cgroup v1 here: clone3 births only into v2 groups" unless CgroupTest.version('pids') == 2
  skip "clone3 answers ENOSYS here (valgrind)" unless CgroupTest.clone3?
  CgroupTest.isolate do
    full = Cgroup::PIDS.new("#{PREFIX}/full")
    full.max = 1
    full.create
    room = Cgroup::PIDS.new("#{PREFIX}/room").create
    # a forked copy of this test moves itself into "full": its group is then
    # at pids.max, so a fork of it would be refused (EAGAIN)
    parent = CgroupTest.fork
    if parent == 0
      code = begin
        full.attach
        status = Cgroup.wait(Cgroup.spawn([room], "/bin/sh", "-c", "grep -qx '0::#{room.group_name}' /proc/self/cgroup"))
        status.success? ? (status.via == :clone3 ? 0 : 2) : 1
      rescue Cgroup::Error
        3 # the fork was refused
      end
      CgroupTest.exit!(code)
    end
    assert_equal [0, nil], CgroupTest.wait(parent), "0: born in room; 1: wrong group; 2: forked; 3: refused"
    assert_equal({ "max" => 0 }, { "max" => full.events["max"] }, "no fork was refused in full")
  end
end

assert('spawn names the group the child could not join, also when it was born in its v2 group; an empty cpuset says so') do
  unless Cgroup.version(:pressure) == 2 && Cgroup.version(:cpu) == 1 && Cgroup.version(:cpuset) == 1
    skip "needs a cgroup2 mount beside v1 cpu and cpuset (the hybrid layout)"
  end
  CgroupTest.isolate do
    psi = Cgroup::PRESSURE.new("#{PREFIX}/blame").create
    cpu = Cgroup::CPU.new("#{PREFIX}/blame").create
    set = Cgroup::CPUSET.new("#{PREFIX}/blame").create
    CgroupTest.write("#{CgroupTest.group_dir('cpuset', set.group_name)}/cpuset.cpus", "\n")
    e = assert_raise(Cgroup::InvalidValue) { Cgroup.spawn([psi, cpu, set], "/bin/true") }
    assert_equal ["cpuset", set.group_name, "tasks"], [e.controller, e.group, e.file] if e.is_a?(Cgroup::Error)
    assert_include e.message, "cpuset.cpus"
    assert_equal [[], [], []], [psi.procs, cpu.procs, set.procs], "no child left in any group"
    e = assert_raise(Cgroup::InvalidValue) { set.attach(CgroupTest.spawn("sleep")) }
    assert_include e.message, "cpuset.cpus", "attach says the same"
  end
end

assert('spawn starts the command with no signal blocked or ignored, whatever the host set (nginx workers block and ignore some)') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/sigs").create
    out = CgroupTest.scratch("sigs")
    # TERM and INT blocked, PIPE ignored: what an nginx worker has
    CgroupTest.with_signals([15, 2], [13]) do
      script = "grep -E '^Sig(Blk|Ign)' /proc/self/status > #{out}; yes 2>>#{out} | head -c 1 >/dev/null"
      assert_true Cgroup.wait(g.spawn("/bin/sh", "-c", script)).success?
      sleeper = g.spawn("sleep", "30")
      assert_equal 1, g.kill_all(:TERM, 5)
      assert_true g.wait_empty(5), "TERM ended the command"
      assert_equal 15, Cgroup.wait(sleeper).termsig
    end
    seen = CgroupTest.read(out)
    lines = seen.split("\n")
    assert_include lines, "SigBlk:\t0000000000000000"
    assert_include lines, "SigIgn:\t0000000000000000"
    assert_not_include seen, "Broken pipe", "yes | head ends quietly, by SIGPIPE"
    CgroupTest.unlink(out)
  end
end

assert('Cgroup.wait refuses a pid of 0 or below instead of reaping another component\'s child') do
  CgroupTest.isolate do
    theirs = CgroupTest.spawn("sleep")
    CgroupTest.kill(theirs) # it ends; reaping it is its owner's
    [-1, 0, -theirs].each do |pid|
      e = assert_raise(Cgroup::InvalidValue) { Cgroup.wait(pid) }
      assert_include e.message, "pid #{pid}" if e.is_a?(Cgroup::InvalidValue)
    end
    assert_raise(Cgroup::InvalidValue) { Cgroup.waitpid(-1) }
    assert_equal [nil, 9], CgroupTest.wait(theirs), "still there for its owner to reap"
  end
end
