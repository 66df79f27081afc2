# Cgroup::Pool: leased groups and what a lease used (src/accounting.c,
# mrblib/pool.rb).  Leases that move the leasing process into a MEMORY
# group run in a forked child (the test runner stays in its memory group);
# the others lease helper children by pid.  Every number is checked against
# the kernel's own files or against a workload of known size.

PREFIX = CgroupTest.prefix
MiB = 1 << 20
# memory counters move in per-CPU batches of charge (64 pages), so a peak
# may read this much below what was touched
SLACK = MiB

def pool_controllers
  %w[cpuacct memory pids].select { |c| CgroupTest.version(c == 'cpuacct' ? 'cpu' : c) || CgroupTest.version(c) }
end

def skip_unless_memory
  skip "memory is not available" unless CgroupTest.version('memory')
end

# Run the block in a forked child; what it returns (a Hash), as a Hash of
# Strings, or the exception it raised as {"raised" => "Class: message"}.
def in_child(name)
  report = CgroupTest.scratch("pool-#{name}")
  child = CgroupTest.fork
  if child == 0
    out = begin
      yield.map { |k, v| "#{k}\t#{v}" }.join("\n")
    rescue Exception => e
      "raised\t#{e.class}: #{e.message}"
    end
    CgroupTest.write(report, out + "\n")
    CgroupTest.exit!(0)
  end
  assert_equal [0, nil], CgroupTest.wait(child), "#{name}: the child ended cleanly"
  text = CgroupTest.read(report)
  CgroupTest.unlink(report)
  fields = {}
  text.split("\n").each do |line|
    k, v = line.split("\t", 2)
    fields[k] = v
  end
  fields
end

def no_raise(report)
  assert_nil report["raised"], "the child raised"
end

# The slot's CPU time in microseconds and memory usage, from the kernel's files.
def kernel_cpu_usec(slot)
  if CgroupTest.version('cpu') == 2
    line = CgroupTest.kernel_file('cpu', slot, 'cpu.stat').split("\n").find { |l| l.start_with?("usage_usec ") }
    line.split[1].to_i
  else
    CgroupTest.kernel_file('cpuacct', slot, 'cpuacct.usage').to_i / 1000
  end
end

# The slot's user and system CPU time in microseconds, from the kernel's files
# as the meter reads them (v1: cpuacct.usage_all's columns, nanoseconds per CPU).
def kernel_cpu_split_usec(slot)
  if CgroupTest.version('cpu') == 2
    stat = CgroupTest.kernel_file('cpu', slot, 'cpu.stat').split("\n")
    %w[user_usec system_usec].map { |k| stat.find { |l| l.start_with?("#{k} ") }.split[1].to_i }
  else
    rows = CgroupTest.kernel_file('cpuacct', slot, 'cpuacct.usage_all').split("\n")
    columns = rows.shift.split
    %w[user system].map do |k|
      rows.inject(0) { |sum, row| sum + row.split[columns.index(k)].to_i } / 1000
    end
  end
end

def kernel_memory(slot, v1_file, v2_file)
  CgroupTest.kernel_file('memory', slot, CgroupTest.version('memory') == 2 ? v2_file : v1_file).to_i
end

assert('a lease reports the CPU time and memory of a known workload, as the kernel counted them') do
  skip_unless_memory
  skip "cpu is not available" unless CgroupTest.version('cpu')
  CgroupTest.isolate do
    r = in_child("workload") do
      pool = Cgroup::Pool.new("#{PREFIX}/pool", *pool_controllers)
      home = CgroupTest.group_of(CgroupTest.tid, 'memory')
      slot = pool.lease {}.slot # the slot the next lease gets: this process's only one
      cpu0 = kernel_cpu_usec(slot)
      split0 = kernel_cpu_split_usec(slot)
      mem0 = kernel_memory(slot, 'memory.usage_in_bytes', 'memory.current')
      own0 = CgroupTest.cpu_usec
      kernel_cpu = kernel_split = nil
      usage = pool.lease do
        CgroupTest.burn(50)
        CgroupTest.touch(32 * MiB)
        # inside: where the kernel peak is not reset, the pool makes the slot anew after the lease
        kernel_cpu = kernel_cpu_usec(slot) - cpu0
        split = kernel_cpu_split_usec(slot)
        kernel_split = [split[0] - split0[0], split[1] - split0[1]]
      end
      own = CgroupTest.cpu_usec - own0
      { "slot" => usage.slot, "first" => slot, "cpu" => usage.cpu_usec, "user" => usage.user_usec,
        "system" => usage.system_usec, "own" => own, "kernel_cpu" => kernel_cpu,
        "kernel_split" => kernel_split.join(" "),
        "peak" => usage.memory_peak, "kernel_peak" => kernel_memory(slot, 'memory.max_usage_in_bytes', 'memory.peak') - mem0,
        "pids" => usage.pids_peak.inspect, "events" => usage.events.size, "oom" => usage.oom_killed?,
        "home" => CgroupTest.group_of(CgroupTest.tid, 'memory') == home }
    end
    no_raise(r)
    assert_equal r["first"], r["slot"], "the same slot, leased again"
    cpu, own = r["cpu"].to_i, r["own"].to_i
    assert_true cpu >= 50_000, "at least the 50 ms burnt (#{cpu} us)"
    assert_true (cpu - own).abs <= 5_000 + own / 20, "the process's own CPU time in the lease: #{own} us, reported #{cpu} us"
    inside = r["kernel_cpu"].to_i # the slot's counter at the block's end: only the moves back come after
    assert_true cpu >= inside && cpu - inside <= 2_000 + cpu / 20, "the slot's counter rose by #{inside} us by the block's end, reported #{cpu} us"
    # user and system are the kernel's split of the slot's time, by its ticks,
    # which on a loaded machine (or a host that steals a VM's ticks) may add
    # up to much less than cpu_usec: held against the slot's own counters at
    # the block's end (the moves back after it may take a tick more), not
    # against cpu_usec
    inside_split = r["kernel_split"].split.map(&:to_i)
    [r["user"].to_i, r["system"].to_i].each_with_index do |reported, i|
      assert_true reported >= inside_split[i] && reported - inside_split[i] <= 10_000,
                  "user #{r['user']}, system #{r['system']}: the slot's counters rose by #{r['kernel_split']} by the block's end"
    end
    assert_true r["user"].to_i > 0, "the burn shows in user time: user #{r['user']}, system #{r['system']}, all #{cpu} us"
    peak = r["peak"].to_i
    assert_true peak >= 32 * MiB - SLACK && peak < 48 * MiB, "the 32 MiB touched: memory_peak #{peak}"
    if CgroupTest.version('memory') == 1 # v2's memory.peak as the test opens it is the group's own, not reset
      assert_true (r["kernel_peak"].to_i - peak).abs <= MiB, "max_usage_in_bytes rose by #{r['kernel_peak']}, reported #{peak}"
    end
    assert_true ["1", "nil"].include?(r["pids"]), "one task, no fork: pids_peak #{r['pids']}"
    assert_equal "0", r["events"], "no event rose"
    assert_equal "false", r["oom"]
    assert_equal "true", r["home"], "back in the memory group it came from"
  end
end

assert('consecutive leases of one slot each report their own peak and CPU time, not the ones before') do
  skip_unless_memory
  CgroupTest.isolate do
    r = in_child("consecutive") do
      pool = Cgroup::Pool.new("#{PREFIX}/pool", *pool_controllers)
      big = pool.lease { CgroupTest.touch(48 * MiB) }
      small = pool.lease { CgroupTest.touch(16 * MiB) }
      idle = pool.lease {}
      forks = pool.lease { CgroupTest.wait(CgroupTest.run("/bin/true")) }
      after = pool.lease {}
      { "big" => big.memory_peak, "small" => small.memory_peak, "idle" => idle.memory_peak,
        "idle_cpu" => idle.cpu_usec.inspect, "forks" => forks.pids_peak.inspect,
        "after" => after.pids_peak.inspect, "slots" => [big, small, idle, forks, after].map(&:slot).uniq.size,
        "held" => pool.slots.size }
    end
    no_raise(r)
    assert_true r["big"].to_i >= 48 * MiB - SLACK, "48 MiB: #{r['big']}"
    assert_true r["small"].to_i >= 16 * MiB - SLACK && r["small"].to_i < 32 * MiB, "16 MiB after 48: #{r['small']}"
    assert_true r["idle"].to_i < 8 * MiB, "nothing touched after both: #{r['idle']}"
    assert_true r["idle_cpu"] == "nil" || r["idle_cpu"].to_i < 20_000, "an empty lease's CPU time: #{r['idle_cpu']}"
    if r["forks"] != "nil"
      assert_equal "2", r["forks"], "the leasing process and the child it ran"
      assert_equal "1", r["after"], "the next lease: its own task only (the slot made anew where pids.peak does not reset)"
    end
    assert_equal "1", r["held"], "one slot held throughout"
  end
end

assert('leases never share a slot: nested leases and two pools of one base get different slots') do
  skip_unless_memory
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    home = CgroupTest.group_of(helper, 'memory')
    one = Cgroup::Pool.new("#{PREFIX}/pool", :memory)
    two = Cgroup::Pool.new("#{PREFIX}/pool/", :memory) # the same base, named with a trailing "/"
    assert_equal "#{PREFIX}/pool", two.base
    seen = []
    one.lease(helper) do |outer|
      seen << [outer.name, CgroupTest.group_of(helper, 'memory')]
      one.lease(helper) { |inner| seen << [inner.name, CgroupTest.group_of(helper, 'memory')] }
      two.lease(helper) { |other| seen << [other.name, CgroupTest.group_of(helper, 'memory')] }
      seen << [outer.name, CgroupTest.group_of(helper, 'memory')]
    end
    names = seen.map(&:first)
    assert_equal 3, names.uniq.size, "three slots: #{names}"
    seen.each { |slot, where| assert_equal slot, where, "the helper is in the slot leased to it" }
    assert_equal home, CgroupTest.group_of(helper, 'memory'), "and back home after"
    assert_equal 2, one.slots.size
    assert_equal 1, two.slots.size
    assert_equal [], one.slots & two.slots, "a slot belongs to one pool object (one lock)"
    one.close
    two.close
    assert_equal [], Cgroup.groups('memory', "#{PREFIX}/pool").reject { |g| g == "#{PREFIX}/pool" }, "close removed the slots"
  end
end

assert('a worker that dies inside a lease: the next pool reuses its slot, or skips it while its child is in it') do
  skip_unless_memory
  CgroupTest.isolate do
    base = "#{PREFIX}/pool"
    child = CgroupTest.fork
    if child == 0
      Cgroup::Pool.new(base, :memory).lease { CgroupTest.exit!(0) } # dies holding slot 0
      CgroupTest.exit!(1)
    end
    assert_equal [0, nil], CgroupTest.wait(child)
    helper = CgroupTest.spawn("sleep")
    pool = Cgroup::Pool.new(base, :memory)
    assert_equal "#{base}/0", pool.lease(helper) {}.slot, "the dead worker's lock went with it: slot 0 again"
    pool.close

    # a worker that leaves a child of its own in the slot when it dies
    report = CgroupTest.scratch("pool-orphan")
    child = CgroupTest.fork
    if child == 0
      Cgroup::Pool.new(base, :memory).lease do
        CgroupTest.write(report, CgroupTest.run("/bin/sleep", "60").to_s)
        CgroupTest.exit!(0)
      end
      CgroupTest.exit!(1)
    end
    assert_equal [0, nil], CgroupTest.wait(child)
    orphan = CgroupTest.read(report).to_i
    CgroupTest.unlink(report)
    assert_equal "#{base}/0", CgroupTest.group_of(orphan, 'memory'), "the orphan stayed in slot 0"
    pool = Cgroup::Pool.new(base, :memory)
    assert_equal "#{base}/1", pool.lease(helper) {}.slot, "slot 0 holds a task: skipped"
    CgroupTest.kill(orphan, 9)
    30.times { break if CgroupTest.pids_in('memory', "#{base}/0", 'cgroup.procs').empty?; CgroupTest.sleep(0.1) }
    other = Cgroup::Pool.new(base, :memory)
    assert_equal "#{base}/0", other.lease(helper) {}.slot, "empty again: reused"
    pool.close
    other.close
  end
end

# A worker's life at a server's start or graceful restart: a pool over
# slots that workers before it used, and a few leases.  What went wrong, or
# "ok".  Every lease checks, from /proc, that it runs in its slot.
def take_over_and_lease(base, controllers, size)
  pool = Cgroup::Pool.new(base, *controllers, size: size)
  3.times do
    pool.lease do |slot|
      controllers.each do |c|
        where = CgroupTest.group_of(CgroupTest.tid, c)
        return "#{c}: in #{where} during a lease of #{slot.name}" unless where == slot.name
      end
    end
  end
  "ok"
rescue Exception => e
  "#{e.class}: #{e.message}"
end

assert('workers taking over spent slots all at once never lease a slot another is removing') do
  skip_unless_memory
  controllers = pool_controllers
  skip "pids is not available: no slot is spent when taken over" unless controllers.include?("pids")
  # pids.peak, never reset, is at least 1 after a lease: the workers that
  # take a slot over all make it anew (rmdir and mkdir) at the same time,
  # while the others look for a free one.  The holder removes the slot
  # before it lets go of the lock, so no worker locks a slot on its way out.
  CgroupTest.isolate do
    base = "#{PREFIX}/pool"
    workers = 6
    reports = (0...workers).map { |w| CgroupTest.scratch("pool-takeover-#{w}") }
    failures = []
    40.times do |round|
      kids = reports.map do |report|
        kid = CgroupTest.fork
        if kid == 0
          CgroupTest.write(report, take_over_and_lease(base, controllers, workers))
          CgroupTest.exit!(0)
        end
        kid
      end
      kids.each { |kid| assert_equal [0, nil], CgroupTest.wait(kid), "round #{round}: the worker ended" }
      reports.each { |r| failures << "round #{round}: #{CgroupTest.read(r)}" unless CgroupTest.read(r) == "ok" }
      next unless round == 0 && !CgroupTest.file?(CgroupTest.group_dir("pids", "#{base}/0") + "/pids.peak")

      reports.each { |r| CgroupTest.unlink(r) }
      skip "this kernel has no pids.peak (before 6.1): no slot is spent when taken over"
    end
    reports.each { |r| CgroupTest.unlink(r) }
    assert_equal [], failures.first(5), "#{failures.size} of #{40 * workers} workers failed"
    slots = Cgroup.groups("pids", base).reject { |g| g == base }
    assert_true slots.size.between?(1, workers), "the slots are still there, at most one per worker: #{slots}"
  end
end

assert('a lease whose block raises moves back, returns the slot and raises the same exception') do
  skip_unless_memory
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    home = CgroupTest.group_of(helper, 'memory')
    pool = Cgroup::Pool.new("#{PREFIX}/pool", :memory)
    first = pool.lease(helper) {}.slot
    e = assert_raise(RuntimeError) { pool.lease(helper) { raise "request failed" } }
    assert_equal "request failed", e.message
    assert_equal home, CgroupTest.group_of(helper, 'memory'), "moved back"
    assert_equal first, pool.lease(helper) {}.slot, "the slot was given back"
    assert_equal [first], pool.slots
    pool.close
  end
end

assert('a fiber switch inside a lease is refused with Cgroup::FiberSwitch, the task moved back and the slot kept') do
  skip_unless_memory
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    home = CgroupTest.group_of(helper, 'memory')
    pool = Cgroup::Pool.new("#{PREFIX}/pool", :memory)
    fiber = Fiber.new do
      begin
        pool.lease(helper) { Fiber.yield :inside }
        :no_error
      rescue Cgroup::FiberSwitch => e
        e.class
      end
    end
    assert_equal Cgroup::FiberSwitch, fiber.resume
    assert_equal home, CgroupTest.group_of(helper, 'memory')
    assert_equal 1, pool.slots.size
    assert_true pool.lease(helper) {}.memory_peak.is_a?(Integer) || !CgroupTest.version('memory'), "leases go on"
    pool.close
  end
end

assert('a slot removed from outside between leases is made again') do
  skip_unless_memory
  CgroupTest.isolate do
    helper = CgroupTest.spawn("alloc", 8 * MiB)
    pool = Cgroup::Pool.new("#{PREFIX}/pool", :memory)
    slot = pool.lease(helper) {}.slot
    Cgroup::MEMORY.new(slot).delete
    assert_false Cgroup::MEMORY.new(slot).exist?
    usage = pool.lease(helper) do
      CgroupTest.release(helper)
      CgroupTest.wait(helper)
    end
    assert_equal slot, usage.slot, "made again under its name"
    assert_true usage.memory_peak.nil? || usage.memory_peak >= 8 * MiB - SLACK, "and measured: #{usage.memory_peak}"
    pool.close
  end
end

# A counter file missing for a moment, as it is to a meter that opens it
# while another process removes the slot's group and makes it again: strace
# fails the meter's first open of the peak's file with ENOENT, the file
# being there all the while.  The meter looks again (kernel_io.c's rule for
# every group file), finds it and reads it, for this lease and the next;
# it is not taken for a file this kernel lacks, whose counter is nil.
assert('a counter file missing for a moment (its group removed and made again) is opened again, not taken as absent for good') do
  skip_unless_memory
  strace = "/usr/bin/strace"
  skip "no strace here (#{strace}): the moment is made by failing one open" unless CgroupTest.file?(strace)
  skip "no mruby binary at #{TEST_ARGS['mruby_bin']}" unless CgroupTest.file?(TEST_ARGS['mruby_bin'])
  file = CgroupTest.version('memory') == 2 ? 'memory.peak' : 'memory.max_usage_in_bytes'
  CgroupTest.isolate do
    base = "#{PREFIX}/pool-blink"
    Cgroup::MEMORY.new(base).create
    skip "this kernel has no #{file}" unless CgroupTest.file?("#{CgroupTest.group_dir('memory', base)}/#{file}")
    full = "#{CgroupTest.group_dir('memory', "#{base}/0")}/#{file}"
    relative = full[(CgroupTest.mount('memory').size + 1)..-1] # as the gem opens it, under the mount
    log = CgroupTest.scratch("pool-blink-strace")
    script = "pool = Cgroup::Pool.new(ARGV[0], :memory); " \
             "2.times { puts pool.lease { 'x' * (4 << 20) }.memory_peak.inspect }; pool.close"
    # LeakSanitizer cannot run under ptrace: an ASan build's mruby is traced without it
    out, status, = CgroupTest.capture_as(CgroupTest.uid, strace, "-f", "-qq", "-o", log, "-P", relative, "-P", full,
                                         "-e", "trace=openat,open", "-e", "inject=openat,open:error=ENOENT:when=1",
                                         "/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0",
                                         TEST_ARGS['mruby_bin'], "-e", script, base)
    injected = CgroupTest.read(log).split("\n").select { |l| l.include?("INJECTED") }
    CgroupTest.unlink(log)
    assert_equal 1, injected.size, "the first open of #{file} failed: #{injected.inspect}"
    assert_equal 0, status, out
    peaks = out.split("\n")
    assert_equal 2, peaks.size, out
    peaks.each do |peak|
      assert_true peak != "nil" && peak.to_i >= 4 * MiB - SLACK, "the lease's peak was read: #{peaks.inspect}"
    end
  end
end

assert('limits per slot from the pool block: an OOM kill and a refused fork show in the lease events') do
  skip_unless_memory
  CgroupTest.isolate do
    v2 = CgroupTest.version('memory') == 2
    pool = Cgroup::Pool.new("#{PREFIX}/small", :memory) do |mem|
      mem.limit_in_bytes = 32 * MiB
      v2 ? mem.memsw_limit_in_bytes = 32 * MiB : mem.swappiness = 0
    end
    victim = CgroupTest.spawn("alloc", 96 * MiB)
    usage = pool.lease(victim) do
      CgroupTest.release(victim)
      assert_equal [nil, 9], CgroupTest.wait(victim), "killed"
    end
    assert_equal (32 * MiB).to_s, CgroupTest.kernel_file('memory', usage.slot, v2 ? 'memory.max' : 'memory.limit_in_bytes').chomp
    assert_true usage.oom_killed?, "oom_killed?: #{usage.events}"
    assert_equal 1, usage.events["memory.oom_kill"]
    assert_true usage.limited?, "memory.max rose: #{usage.events}"
    pool.close
    if CgroupTest.version('pids')
      pids = Cgroup::Pool.new("#{PREFIX}/few", :pids) { |p| p.max = 3 }
      forker = CgroupTest.spawn("fork", 8)
      usage = pids.lease(forker) do
        CgroupTest.release(forker)
        assert_equal [2, nil], CgroupTest.wait(forker), "two forks allowed beside the child itself"
      end
      assert_true usage.events["pids.max"].to_i >= 1, "refused forks counted: #{usage.events}"
      assert_true usage.pids_peak.nil? || usage.pids_peak == 3, "three tasks at most: #{usage.pids_peak}"
      pids.close
    end
  end
end

assert('a pool whose slots are all held raises Cgroup::Busy naming the base') do
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    pool = Cgroup::Pool.new("#{PREFIX}/one", :pids, size: 1)
    e = assert_raise(Cgroup::Busy) { pool.lease(helper) { pool.lease(helper) {} } }
    assert_equal ["#{PREFIX}/one", 16], [e.group, e.errno], "EBUSY, chosen by the C side for Busy"
    assert_equal 1, pool.slots.size, "the outer lease's slot is kept"
    pool.close
    assert_raise(ArgumentError) { Cgroup::Pool.new("#{PREFIX}/x") }
    assert_raise(ArgumentError) { Cgroup::Pool.new("#{PREFIX}/x", :pids, size: 0) }
    assert_raise(ArgumentError) { pool.lease }
  end
end

assert('a child forked inside a lease leaves the slot to its parent') do
  skip "pids is not available" unless CgroupTest.version('pids')
  CgroupTest.isolate do
    r = in_child("forked") do
      pool = Cgroup::Pool.new("#{PREFIX}/pool", :pids)
      usage = pool.lease do
        kid = CgroupTest.fork
        if kid == 0
          begin
            pool.lease {} # the child's own lease: never the parent's slot
          rescue Cgroup::Error
            nil
          end
          CgroupTest.exit!(pool.slots.include?("#{PREFIX}/pool/0") ? 1 : 0)
        end
        $kid_status = CgroupTest.wait(kid)
      end
      again = pool.lease {}
      { "first" => usage.slot, "again" => again.slot, "held" => pool.slots.join(","), "kid" => $kid_status.inspect }
    end
    no_raise(r)
    assert_equal "#{PREFIX}/pool/0", r["first"]
    assert_equal "#{PREFIX}/pool/0", r["again"], "the parent keeps its slot"
    assert_equal "#{PREFIX}/pool/0", r["held"]
    assert_equal "[0, nil]", r["kid"], "the child leased a slot of its own and did not hold the parent's"
  end
end

assert('a child a request leaves running in its slot: the next lease takes another slot') do
  skip_unless_memory
  # v1 without pids: seen by the slot's CPU time moving between leases, or
  # without cpuacct by cgroup.procs at the lease's end; v2: cgroup.events
  [pool_controllers - ['pids'], ['memory']].each do |controllers|
    CgroupTest.isolate do
      r = in_child("leftover") do
        pool = Cgroup::Pool.new("#{PREFIX}/pool", *controllers)
        spinner = nil
        first = pool.lease { spinner = CgroupTest.run("/bin/sh", "-c", "sleep 0.3; while :; do :; done") }
        # it spins in the slot now: until it used 20 ms of CPU time after the
        # lease (not a fixed 0.8 s, in which a loaded machine may give it none)
        ran = CgroupTest.cpu_ticks(spinner)
        300.times { break if CgroupTest.cpu_ticks(spinner) >= ran + 2; CgroupTest.sleep(0.1) }
        second = pool.lease {}
        where = CgroupTest.group_of(spinner, 'memory')
        CgroupTest.kill(spinner, 9)
        CgroupTest.wait(spinner)
        { "first" => first.slot, "second" => second.slot, "spinner" => where, "cpu" => second.cpu_usec.inspect }
      end
      no_raise(r)
      assert_equal r["first"], r["spinner"], "#{controllers}: the spinner stayed in the first slot"
      assert_not_equal r["first"], r["second"], "#{controllers}: the next lease went to another slot"
      assert_true r["cpu"] == "nil" || r["cpu"].to_i < 100_000, "#{controllers}: its CPU time is its own: #{r['cpu']}"
    end
  end
end

assert('descriptors closed behind the pool, their numbers given to other files: leases still report the kernel') do
  skip_unless_memory
  CgroupTest.isolate do
    decoy = CgroupTest.scratch("pool-decoy")
    CgroupTest.write(decoy, "decoy\n")
    r = in_child("closed") do
      pool = Cgroup::Pool.new("#{PREFIX}/pool", *pool_controllers)
      slot = pool.lease {}.slot
      ours = (3..255).select { |fd| (CgroupTest.fd_path(fd) || "").include?("#{slot}/") }
      reused = ours.select do |fd|
        CgroupTest.close_fd(fd)
        CgroupTest.open_fd(decoy) == fd
      end.size
      usage = pool.lease do
        CgroupTest.burn(20)
        CgroupTest.touch(16 * MiB)
      end
      { "ours" => ours.size, "reused" => reused, "slot" => usage.slot == slot, "cpu" => usage.cpu_usec.inspect,
        "peak" => usage.memory_peak, "decoy" => CgroupTest.read(decoy) == "decoy\n" }
    end
    CgroupTest.unlink(decoy)
    no_raise(r)
    assert_true r["ours"].to_i >= 2, "the pool's descriptors were found: #{r['ours']}"
    assert_equal r["ours"], r["reused"], "each number went to the decoy file"
    assert_equal "true", r["slot"], "the same slot"
    assert_true r["cpu"] == "nil" || r["cpu"].to_i >= 20_000, "CPU time from the slot's files: #{r['cpu']}"
    assert_true r["peak"].to_i >= 16 * MiB - SLACK && r["peak"].to_i < 32 * MiB, "memory peak: #{r['peak']}"
    assert_equal "true", r["decoy"], "nothing was written to the decoy"
  end
end

assert('close in a forked child leaves the parent its slots') do
  skip "pids is not available" unless CgroupTest.version('pids')
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    pool = Cgroup::Pool.new("#{PREFIX}/pool", :pids)
    slot = pool.lease(helper) {}.slot
    child = CgroupTest.fork
    if child == 0
      code = begin
        pool.close
        pool.slots.empty? ? 0 : 2
      rescue Exception
        1
      end
      CgroupTest.exit!(code)
    end
    assert_equal [0, nil], CgroupTest.wait(child)
    assert_true Cgroup::PIDS.new(slot).exist?, "the parent's slot is still there"
    assert_equal [slot], pool.slots
    assert_equal slot, pool.lease(helper) {}.slot, "and leased again"
    pool.close
    assert_false Cgroup::PIDS.new(slot).exist?
  end
end

assert('a lease reports the block I/O of a known write (O_DIRECT, 8 MiB)') do
  io = CgroupTest.version('io') ? 'io' : 'blkio'
  skip "neither io nor blkio is available" unless CgroupTest.version(io)
  skip_unless_memory
  CgroupTest.isolate do
    # /var/tmp where it is on a disk and /tmp is not (trixie's /tmp is a tmpfs)
    dir = ["/var/tmp", "/tmp"].find { |d| CgroupTest.dir?(d) && CgroupTest.block_device?(d) } || "/tmp"
    target = "#{dir}/mrbcg#{PREFIX.tr('/', '-')}-pool-io"
    r = in_child("io") do
      pool = Cgroup::Pool.new("#{PREFIX}/pool", io, :memory)
      status = nil
      usage = pool.lease do
        dd = CgroupTest.run("/bin/dd", "if=/dev/zero", "of=#{target}", "bs=1M", "count=8", "oflag=direct", "status=none")
        status = CgroupTest.wait(dd)
      end
      { "status" => status.inspect, "block" => CgroupTest.file?(target) && CgroupTest.block_device?(target),
        "io" => usage.io.inspect, "wbytes" => (usage.io || {})["wbytes"].to_i,
        "wios" => (usage.io || {})["wios"].to_i }
    end
    CgroupTest.unlink(target) if CgroupTest.file?(target)
    no_raise(r)
    skip "dd with O_DIRECT failed in #{dir} (no block device behind it here): #{r['status']}" unless r["status"] == "[0, nil]"
    skip "#{dir} is not on a block device here (tmpfs takes O_DIRECT since 6.6)" unless r["block"] == "true"
    assert_true r["wbytes"].to_i >= 8 * MiB, "8 MiB written straight to the device: #{r['io']}"
    assert_true r["wios"].to_i >= 8, "in at least 8 requests: #{r['io']}"
  end
end

assert('a slot a lease left a task in: held aside, close raises Busy for it alone; once empty it is leased again') do
  skip "pids is not available" unless CgroupTest.version('pids')
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    pool = Cgroup::Pool.new("#{PREFIX}/pool", :pids)
    stray = CgroupTest.spawn("sleep")
    left = pool.lease(helper) { |slot| slot.groups[0].attach(stray) }.slot
    other = pool.lease(helper) {}.slot
    assert_not_equal left, other, "not leased while the task is in it"
    assert_equal [left, other].sort, pool.slots.sort, "the pool still holds it"
    CgroupTest.kill(stray)
    CgroupTest.wait(stray)
    stray = nil
    inner = nil
    outer = pool.lease(helper) { inner = pool.lease(helper) {}.slot }.slot # two slots at once
    assert_equal [left, other].sort, [outer, inner].sort, "empty again: leased again, no third slot made"
    assert_false Cgroup::PIDS.new("#{PREFIX}/pool/2").exist?

    stray = CgroupTest.spawn("sleep")
    left = pool.lease(helper) { |slot| slot.groups[0].attach(stray) }.slot
    held = pool.slots
    e = assert_raise(Cgroup::Busy) { pool.close }
    assert_equal left, e.group
    assert_include CgroupTest.pids_in('pids', left), stray
    assert_equal 2, held.size
    (held - [left]).each { |s| assert_false Cgroup::PIDS.new(s).exist?, "the other slot is removed all the same" }
    assert_equal [left], pool.slots, "still held, and locked: no other process takes it"
    CgroupTest.kill(stray)
    CgroupTest.wait(stray)
    stray = nil
    assert_nil pool.close, "its task gone, a second close removes it"
    assert_false Cgroup::PIDS.new(left).exist?
    assert_equal [], pool.slots
  ensure
    [stray, helper].compact.each do |pid|
      CgroupTest.kill(pid)
      CgroupTest.wait(pid)
    end
  end
end

assert('a slot emptied of the tasks a lease left is let go when the pool has another idle: a second pool takes it') do
  skip "pids is not available" unless CgroupTest.version('pids')
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    stray = CgroupTest.spawn("sleep")
    a = Cgroup::Pool.new("#{PREFIX}/two", :pids, size: 2)
    left = a.lease(helper) { |slot| slot.groups[0].attach(stray) }.slot
    other = a.lease(helper) {}.slot
    CgroupTest.kill(stray)
    CgroupTest.wait(stray)
    assert_equal other, a.lease(helper) {}.slot
    assert_equal [other], a.slots, "the emptied slot is let go: this pool has an idle one"
    b = Cgroup::Pool.new("#{PREFIX}/two", :pids, size: 2)
    assert_equal left, b.lease(helper) {}.slot, "and another pool of the same base takes it"
    [a, b].each(&:close)
    CgroupTest.kill(helper)
    CgroupTest.wait(helper)
  end
end

assert('Pool.new makes nothing until the first lease; Usage#to_h holds every figure') do
  skip "pids is not available" unless CgroupTest.version('pids')
  CgroupTest.isolate do
    helper = CgroupTest.spawn("sleep")
    pool = Cgroup::Pool.new("#{PREFIX}/lazy", :pids)
    assert_false CgroupTest.dir?(CgroupTest.group_dir('pids', "#{PREFIX}/lazy")), "no group before a lease"
    usage = pool.lease(helper) {}
    assert_true CgroupTest.dir?(CgroupTest.group_dir('pids', "#{PREFIX}/lazy/0"))
    h = usage.to_h
    assert_equal %w[cpu_usec events io memory_peak pids_peak slot system_usec user_usec], h.keys.sort
    assert_equal ["#{PREFIX}/lazy/0", usage.pids_peak, usage.events], [h["slot"], h["pids_peak"], h["events"]]
    assert_equal 1, h["pids_peak"], "the helper alone"
    pool.close
    CgroupTest.kill(helper)
    CgroupTest.wait(helper)
  end
end

# A controller whose leases read no counter at their start: v1's freezer
# (or cpuset), which a pool alone cannot see removed otherwise.
def counterless_controller
  %w[freezer cpuset].find { |c| CgroupTest.version(c) == 1 }
end

assert('a slot removed from outside between leases is made again, also where a lease reads no counter') do
  c = counterless_controller
  skip "no v1 freezer or cpuset hierarchy (on v2 every slot has counters a lease reads)" unless c
  CgroupTest.isolate do
    base = "#{PREFIX}/pool-removed"
    helper = CgroupTest.spawn("sleep")
    one = Cgroup::Pool.new(base, c.to_sym)
    slot = one.lease(helper) {}.slot
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.run("/bin/rmdir", CgroupTest.group_dir(c, slot)))
    two = Cgroup::Pool.new(base, c.to_sym)
    seen = []
    two.lease(helper) do |outer|
      seen << outer.name
      one.lease(helper) do |inner| # at once: each must have a slot of its own
        seen << inner.name
        seen << CgroupTest.pids_in(c, inner.name, "tasks").include?(helper)
      end
    end
    assert_equal "#{base}/0", seen[0], "the second pool made slot 0 again"
    assert_not_equal seen[0], seen[1], "the first pool did not lease the slot the second holds"
    assert_true seen[2], "the helper was in the first pool's slot during its lease"
    one.close
    two.close
  end
end

assert('a lease counts the CPU time its block ran: flushed before the moves in and out') do
  skip "cpu is not available" unless CgroupTest.version('cpu')
  CgroupTest.isolate do
    r = in_child("cpu-flush") do
      pool = Cgroup::Pool.new("#{PREFIX}/pool-cpu", :cpuacct)
      rounds = CgroupTest.quiet_rounds(3)
      runs = Array.new(20) do
        CgroupTest.spin_quietly(rounds) # before: its time is not the block's
        pool.lease { CgroupTest.spin_quietly(rounds) }.cpu_usec
      end
      pool.close
      { "runs" => runs.join(" ") }
    end
    no_raise(r)
    # two equal spins, one before the lease and one in its block: the block's
    # counts, the other does not (CgroupTest.quiet_spin_counted says how much)
    least, most = CgroupTest.quiet_spin_counted
    r["runs"].split.each do |counted|
      assert_true counted.to_i >= least && counted.to_i <= most,
                  "the block's spin of 3 ms counted: #{counted} us (all: #{r['runs']})"
    end
  end
end

assert('lease(pid) moves the whole process, every thread, on v1 too') do
  skip_unless_memory
  controllers = pool_controllers.include?('pids') ? [:memory, :pids] : [:memory]
  CgroupTest.isolate do
    r = in_child("threads") do
      other = CgroupTest.park_thread
      me = CgroupTest.tid # the main thread: the process's pid
      pool = Cgroup::Pool.new("#{PREFIX}/pool-threads", *controllers)
      inside = nil
      usage = pool.lease(me) do |slot|
        inside = [CgroupTest.group_of(me, 'memory'), CgroupTest.group_of(other, 'memory'), slot.name]
      end
      home = [CgroupTest.group_of(me, 'memory'), CgroupTest.group_of(other, 'memory')]
      CgroupTest.unpark_thread
      pool.close
      { "inside" => inside.join(","), "home" => home.uniq.size, "pids" => usage.pids_peak.inspect }
    end
    no_raise(r)
    slot = r["inside"].split(",")[2]
    assert_equal "#{slot},#{slot},#{slot}", r["inside"], "both threads in the slot"
    assert_equal "1", r["home"], "both back in one group"
    assert_equal "2", r["pids"], "pids_peak counts both threads" if controllers.include?(:pids) && r["pids"] != "nil"
  end
end
