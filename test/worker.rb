# Cgroup::Worker: per-request limits written into the worker's own group,
# and restored (mrblib/worker.rb).  A worker moves its process into its
# group, so every test runs it in a forked child (the test runner stays in
# its memory group); the child reports what the kernel's files said, read
# without the gem, and the parent asserts.

PREFIX = CgroupTest.prefix
MiB = 1 << 20

def cpu_quota_file
  CgroupTest.version('cpu') == 2 ? 'cpu.max' : 'cpu.cfs_quota_us'
end

def memory_limit_file
  CgroupTest.version('memory') == 2 ? 'memory.max' : 'memory.limit_in_bytes'
end

def memory_usage_file
  CgroupTest.version('memory') == 2 ? 'memory.current' : 'memory.usage_in_bytes'
end

# The quota as the kernel shows it: an Integer, -1 for none.
def kernel_quota(group)
  text = CgroupTest.kernel_file('cpu', group, cpu_quota_file).split[0]
  text == 'max' ? -1 : text.to_i
end

# Run the block in a forked child; [what it returned (a Hash of Strings),
# the child's exit status, the signal that ended it].  What the block
# reported before it died is kept: it calls report.call(hash) as it goes.
def worker_child(name)
  file = CgroupTest.scratch("worker-#{name}")
  CgroupTest.write(file, "")
  child = CgroupTest.fork
  if child == 0
    said = {}
    report = lambda do |h|
      h.each { |k, v| said[k] = v }
      CgroupTest.write(file, said.map { |k, v| "#{k}\t#{v}" }.join("\n") + "\n")
    end
    begin
      report.call(yield(report))
    rescue Exception => e
      report.call("raised" => "#{e.class}: #{e.message}")
    end
    CgroupTest.exit!(0)
  end
  status, signal = CgroupTest.wait(child)
  fields = {}
  CgroupTest.read(file).split("\n").each do |line|
    k, v = line.split("\t", 2)
    fields[k] = v
  end
  CgroupTest.unlink(file)
  [fields, status, signal]
end

def worker_report(name, &block)
  r, status, signal = worker_child(name, &block)
  assert_equal [0, nil], [status, signal], "#{name}: the child ended cleanly (#{r.inspect})"
  assert_nil r["raised"], "#{name}: the child raised"
  r
end

def error_of
  yield
  nil
rescue StandardError => e
  e
end

def skip_unless(*controllers)
  controllers.each { |c| skip "#{c} is not available" unless CgroupTest.version(c) }
end

assert('Worker.new moves the whole process into a group of its own; run writes the quota for the block and restores it') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-quota"
    r = worker_report("quota") do
      other = CgroupTest.park_thread # a second thread: it moves too
      w = Cgroup::Worker.new(base, cpu: { cfs_quota_us: 30_000 })
      groups = [CgroupTest.group_of(CgroupTest.tid, 'cpu'), CgroupTest.group_of(other, 'cpu')]
      at_rest = kernel_quota(w.name)
      inside = w.run { kernel_quota(w.name) }
      after = kernel_quota(w.name)
      raised = begin
        w.run { raise "request failed" }
      rescue RuntimeError => e
        e.message
      end
      after_raise = kernel_quota(w.name)
      override = w.run(cpu: { cfs_quota_us: 10_000 }) { kernel_quota(w.name) }
      CgroupTest.unpark_thread
      w.close
      { "name" => w.name, "groups" => groups.join(","), "rest" => at_rest, "inside" => inside, "after" => after,
        "message" => raised, "after_raise" => after_raise, "override" => override,
        "home" => CgroupTest.group_of(CgroupTest.tid, 'cpu'), "gone" => !CgroupTest.dir?(CgroupTest.group_dir('cpu', w.name)) }
    end
    name = "#{base}/0"
    assert_equal name, r["name"]
    assert_equal "#{name},#{name}", r["groups"], "both threads of the process in the worker's group"
    assert_equal ["-1", "30000", "-1"], [r["rest"], r["inside"], r["after"]], "the quota in force only in the block"
    assert_equal ["request failed", "-1"], [r["message"], r["after_raise"]], "restored when the block raises"
    assert_equal "10000", r["override"], "an override for one request"
    assert_not_equal name, r["home"], "close moves the process back"
    assert_equal "true", r["gone"], "close removes the group"
  end
end

assert('Worker: a memory allowance is a limit above the level where the request began, and it bites') do
  skip_unless 'memory'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-memory"
    r, status, signal = worker_child("memory") do |report|
      w = Cgroup::Worker.new(base, memory: { allowance: 16 * MiB })
      rest = CgroupTest.kernel_file('memory', w.name, memory_limit_file)
      held = "x" * (4 * MiB) # the worker's own level, charged to its group
      inside = w.run do
        [CgroupTest.kernel_file('memory', w.name, memory_limit_file).to_i,
         CgroupTest.kernel_file('memory', w.name, memory_usage_file).to_i]
      end
      report.call("name" => w.name, "rest" => rest, "limit" => inside[0], "usage" => inside[1],
                  "after" => CgroupTest.kernel_file('memory', w.name, memory_limit_file))
      w.run { CgroupTest.touch(64 * MiB) } # four times the allowance, no swap: the OOM killer
      { "survived" => held.size }
    end
    limit, usage = r["limit"].to_i, r["usage"].to_i
    # memory is charged in per-CPU batches (64 pages) and freed meanwhile: the
    # level read at the start and the usage read in the block differ by that much
    assert_true limit - 16 * MiB <= usage + MiB, "the limit (#{limit}) is the level at the start plus 16 MiB (usage #{usage})"
    assert_true limit - 16 * MiB >= 4 * MiB - MiB, "the level counts what the worker holds (limit #{limit})"
    assert_equal r["rest"], r["after"], "the limit in force before, restored"
    events = CgroupTest.kernel_file('memory', r["name"], CgroupTest.version('memory') == 2 ? 'memory.events' : 'memory.oom_control')
    oom_kills = events.split("\n").find { |l| l.start_with?("oom_kill ") }.to_s.split[1].to_i
    assert_equal [nil, 9], [r["survived"], signal], "the worker, past its allowance, was OOM-killed (status #{status})"
    assert_true oom_kills >= 1, "the kernel counts the OOM kill in the worker's group: #{events.inspect}"
  end
end

assert('Worker#account counts the CPU time the block ran, flushed before and after') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    r = worker_report("account") do
      w = Cgroup::Worker.new("#{PREFIX}/worker-account", cpuacct: {})
      rounds = CgroupTest.quiet_rounds(3)
      out = []
      20.times do
        CgroupTest.spin_quietly(rounds) # before: its time is not the block's
        w.account { CgroupTest.spin_quietly(rounds) }.cpu_usec
      end
      w.close
      { "runs" => out.join(" ") }
    end
    # two equal spins, one before the account and one in its block: the block's
    # counts, the other does not (CgroupTest.quiet_spin_counted says how much)
    least, most = CgroupTest.quiet_spin_counted
    r["runs"].split.each do |counted|
      assert_true counted.to_i >= least && counted.to_i <= most,
                  "the block's spin of 3 ms counted: #{counted} us (all: #{r['runs']})"
    end
  end
end

assert('Worker: a run inside a run raises Busy; the outer limits stay in force until it ends') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    r = worker_report("nested") do
      w = Cgroup::Worker.new("#{PREFIX}/worker-nested", cpu: { cfs_quota_us: 40_000 })
      msg, inner = w.run do
        m = begin
          w.run {}
          "no error"
        rescue Cgroup::Busy => e
          e.message
        end
        [m, kernel_quota(w.name)]
      end
      after = kernel_quota(w.name)
      w.close
      { "msg" => msg, "inner" => inner, "after" => after }
    end
    assert_include r["msg"], "a request is running in this worker's group already"
    assert_equal ["40000", "-1"], [r["inner"], r["after"]]
  end
end

assert('Worker: a group a dead worker held is taken over by the next; a living one is not') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-takeover"
    first = worker_report("first") { { "name" => Cgroup::Worker.new(base, cpu: {}).name } } # dies holding it
    second = worker_report("second") do
      w = Cgroup::Worker.new(base, cpu: {})
      other = worker_report("third") { { "name" => Cgroup::Worker.new(base, cpu: {}).name } }
      h = { "name" => w.name, "other" => other["name"], "procs" => CgroupTest.pids_in('cpu', w.name, "cgroup.procs").join(",") }
      w.close
      h
    end
    assert_equal "#{base}/0", first["name"]
    assert_equal "#{base}/0", second["name"], "the dead worker's group, taken over"
    assert_equal "#{base}/1", second["other"], "a worker alive holds its group"
  end
end

assert('Worker: limits it cannot write are refused before any group is made') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-bad"
    r = worker_report("bad") do
      a = error_of { Cgroup::Worker.new(base, cpu: { no_such_limit: 1 }) }
      b = error_of { Cgroup::Worker.new(base, cpu: { allowance: 1 }) }
      c = error_of { Cgroup::Worker.new(base) }
      d = error_of { Cgroup::Worker.new(base, cpu: { cfs_quota_us: "50000" }) }
      e = error_of { Cgroup::Worker.new(base, memory: { allowance: -1 }) } if CgroupTest.version('memory')
      { "a" => "#{a.class}: #{a.message}", "b" => "#{b.class}: #{b.message}", "c" => c.class, "d" => d.class,
        "e" => e.class, "made" => CgroupTest.dir?(CgroupTest.group_dir('cpu', base)) }
    end
    # (the Hash as mruby's inspect shows it: {:no_such_limit=>1}, or {no_such_limit: 1} on 4.0)
    assert_include r["a"], "ArgumentError: Cgroup::CPU has no limit no_such_limit (cpu: {"
    assert_include r["b"], "Cgroup::CPU has no limit allowance"
    assert_equal ["ArgumentError", "TypeError"], [r["c"], r["d"]], "a value of the wrong type, as its writer says"
    assert_equal "ArgumentError", r["e"] if CgroupTest.version('memory')
    assert_equal "false", r["made"], "no group made for any of them"
  end
end

assert('Worker: a child forked inside run leaves the block without restoring its parent\'s limits') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    r = worker_report("fork") do
      w = Cgroup::Worker.new("#{PREFIX}/worker-fork", cpu: { cfs_quota_us: 40_000 })
      seen = w.run do
        kid = CgroupTest.fork
        next :kid if kid == 0 # the child leaves the block: run's ensure runs in it

        CgroupTest.wait(kid)
        kernel_quota(w.name)
      end
      CgroupTest.exit!(0) if seen == :kid
      after = kernel_quota(w.name)
      w.close
      { "seen" => seen, "after" => after }
    end
    assert_equal ["40000", "-1"], [r["seen"], r["after"]], "the parent's request keeps its quota until it ends"
  end
end

assert('Worker: a limit named only for one request is read first and restored after') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    r = worker_report("override-only") do
      w = Cgroup::Worker.new("#{PREFIX}/worker-override", cpu: {})
      inside = w.run(cpu: { cfs_quota_us: 25_000 }) { kernel_quota(w.name) }
      after = kernel_quota(w.name)
      again = w.run(cpu: { cfs_quota_us: 25_000 }) { kernel_quota(w.name) }
      w.close
      { "inside" => inside, "after" => after, "again" => again }
    end
    assert_equal ["25000", "-1", "25000"], [r["inside"], r["after"], r["again"]]
  end
end

assert('Worker: a fiber switch inside run raises FiberSwitch naming the group, and the limits are restored') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    r = worker_report("fiber") do
      w = Cgroup::Worker.new("#{PREFIX}/worker-fiber", cpu: { cfs_quota_us: 30_000 })
      f = Fiber.new { w.run { Fiber.yield :inside } }
      e = error_of { f.resume }
      after = kernel_quota(w.name)
      again = w.run { kernel_quota(w.name) }
      w.close
      { "error" => "#{e.class}: #{e.message}", "after" => after, "again" => again }
    end
    assert_include r["error"], "Cgroup::FiberSwitch: cpu:#{PREFIX}/worker-fiber/0: run: a fiber switched inside the block"
    assert_equal ["-1", "30000"], [r["after"], r["again"]], "restored, and the next request runs"
  end
end

assert('Worker: one per process; close moves the process back even when a child keeps the group, and a later close removes it') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-close"
    r = worker_report("close") do
      w = Cgroup::Worker.new(base, cpu: { cfs_quota_us: 30_000 })
      second = error_of { Cgroup::Worker.new("#{base}-other", cpu: {}) }
      kid = CgroupTest.run("/bin/sleep", "60") # born in the worker's group
      busy = error_of { w.close }
      home = CgroupTest.group_of(CgroupTest.tid, 'cpu')
      after_close = error_of { w.run {} }
      CgroupTest.kill(kid, 9)
      CgroupTest.wait(kid)
      again = error_of { w.close }
      { "second" => "#{second.class}: #{second.message}", "busy" => busy.class, "home" => home,
        "after_close" => "#{after_close.class}: #{after_close.message}", "again" => again.inspect,
        "gone" => !CgroupTest.dir?(CgroupTest.group_dir('cpu', "#{base}/0")),
        "other_made" => CgroupTest.dir?(CgroupTest.group_dir('cpu', "#{base}-other")) }
    end
    assert_include r["second"], "Cgroup::Busy"
    assert_include r["second"], "one Cgroup::Worker per process"
    assert_equal "false", r["other_made"], "the second worker made no group"
    assert_equal "Cgroup::Busy", r["busy"], "the child keeps the group"
    assert_not_equal "#{base}/0", r["home"], "the process moved back all the same"
    assert_include r["after_close"], "the worker is closed"
    assert_equal ["nil", "true"], [r["again"], r["gone"]], "the second close removes the group"
  end
end

assert('Worker: a group a worker died in mid-request is made anew: the next worker restores the kernel\'s defaults, not the dead request\'s limits') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-died"
    _, status, = worker_child("dies") do
      w = Cgroup::Worker.new(base, cpu: { cfs_quota_us: 30_000 })
      w.run { CgroupTest.exit!(7) } # dies with the request's quota in force
    end
    assert_equal 7, status
    assert_equal 30_000, kernel_quota("#{base}/0"), "the dead request's quota stayed in its group"
    r = worker_report("next") do
      w = Cgroup::Worker.new(base, cpu: { cfs_quota_us: 50_000 })
      at_rest = kernel_quota(w.name)
      inside = w.run { kernel_quota(w.name) }
      after = kernel_quota(w.name)
      w.close
      { "name" => w.name, "rest" => at_rest, "inside" => inside, "after" => after }
    end
    assert_equal ["#{base}/0", "-1", "50000", "-1"], [r["name"], r["rest"], r["inside"], r["after"]]
  end
end

assert('Worker: once its group was removed from outside (and made again under its name), run refuses and writes nothing') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    base = "#{PREFIX}/worker-removed"
    r = worker_report("removed") do
      home = CgroupTest.group_of(CgroupTest.tid, 'cpu')
      w = Cgroup::Worker.new(base, cpu: { cfs_quota_us: 30_000 })
      dir = CgroupTest.group_dir('cpu', w.name)
      CgroupTest.write("#{CgroupTest.group_dir('cpu', home)}/cgroup.procs", CgroupTest.tid.to_s) # moved out
      gone = CgroupTest.wait(CgroupTest.run("/bin/rmdir", dir))
      again = CgroupTest.wait(CgroupTest.run("/bin/mkdir", dir)) # another holder's, say
      e = error_of { w.run {} }
      { "gone" => gone.inspect, "again" => again.inspect, "error" => "#{e.class}: #{e&.message}",
        "quota" => kernel_quota(w.name) }
    end
    assert_equal ["[0, nil]", "[0, nil]"], [r["gone"], r["again"]]
    assert_include r["error"], "Cgroup::Busy"
    assert_include r["error"], "removed from outside"
    assert_equal "-1", r["quota"], "nothing written into the group made again"
  end
end

assert('Worker: its C entry points refuse a malformed step') do
  skip_unless 'cpu'
  CgroupTest.isolate do
    r = worker_report("private") do
      w = Cgroup::Worker.new("#{PREFIX}/worker-private", cpu: {})
      a = error_of { w._run([1]) {} }
      b = error_of { w.__send__(:_run, [1]) {} }
      c = error_of { w.__send__(:_run, [[w.groups[0], 100_000, 1, false]]) {} }
      d = error_of { w.__send__(:_run, [[w.groups[0]]]) {} }
      w.close
      { "a" => a.class, "b" => "#{b.class}: #{b.message}", "c" => c.class, "d" => d.class }
    end
    # private where mruby has visibility (3.4 on); either way, no crash
    assert_include ["NoMethodError", "ArgumentError"], r["a"]
    assert_equal "ArgumentError: Cgroup::Worker: malformed step", r["b"]
    assert_equal ["ArgumentError", "ArgumentError"], [r["c"], r["d"]]
  end
end
