# Pressure stall information: Cgroup::PRESSURE's readers against the
# kernel's files, pressure that rises when tasks wait for a CPU or for
# memory, and triggers that fire on it or reach their timeout.  The PSI
# files are cgroup2 core files: on a hybrid host (this one, the v1 VM) they
# are in the cgroup2 mount, and the tasks must be attached there.

PREFIX = CgroupTest.prefix
# 2 s windows: the only ones a process without CAP_SYS_RESOURCE may set (6.5+)
WINDOW = 2_000_000

def psi?
  mount = CgroupTest.mount('pressure')
  mount && CgroupTest.file?("#{mount}/cpu.pressure")
end

# {"some" => {"avg10" => ..., "total" => N}, "full" => ...} parsed by the test itself
def psi_file(group, resource)
  CgroupTest.kernel_file('pressure', group.group_name, "#{resource}.pressure").split("\n").map do |line|
    kind, *fields = line.split(" ")
    [kind, fields.map { |f| k, v = f.split("="); [k, k == "total" ? v.to_i : v.to_f] }.to_h]
  end.to_h
end

assert('PRESSURE readers give the kernel\'s some/full lines as Hashes, Float averages, Integer totals') do
  skip "no PSI here (no cgroup2 mount, or psi=0)" unless psi?
  CgroupTest.isolate do
    g = Cgroup::PRESSURE.new("#{PREFIX}/psi").create
    %w[cpu memory io].each do |resource|
      got = g.__send__(resource)
      file = psi_file(g, resource)
      assert_equal file.keys, got.keys, resource
      got.each do |kind, fields|
        assert_equal %w[avg10 avg60 avg300 total], fields.keys, "#{resource} #{kind}"
        assert_kind_of Float, fields["avg10"]
        assert_kind_of Integer, fields["total"]
        assert_true fields["total"] <= file[kind]["total"] + 1_000_000, "total read live"
      end
    end
    assert_equal %w[cpu memory io], g.stat.keys.first(3)
    begin
      assert_kind_of Hash, g.irq
    rescue Cgroup::Unsupported => e # kernels before 6.1, or without IRQ time accounting
      assert_equal "irq.pressure", e.file
    end
  end
end

assert('two CPU spinners pinned to one CPU raise cpu.pressure, and a cpu trigger fires') do
  skip "no PSI here (no cgroup2 mount, or psi=0)" unless psi?
  skip "cpuset is not available" unless CgroupTest.version('cpuset')
  CgroupTest.isolate do
    pin = Cgroup::CPUSET.new("#{PREFIX}/crowd")
    pin.cpus = "0"
    pin.create
    g = Cgroup::PRESSURE.new("#{PREFIX}/crowd").create # on v2 the same group as pin
    trigger = g.trigger(:cpu, :some, 100_000, WINDOW)
    before = g.cpu["some"]["total"]
    pids = [1, 2].map do
      pid = CgroupTest.spawn("spin", 6000)
      pin.attach(pid)
      g.attach(pid)
      pid
    end
    pids.each { |pid| CgroupTest.release(pid) }
    fired = trigger.wait(10)
    after = psi_file(g, "cpu")["some"]["total"]
    assert_true fired, "100 ms of stall within 2 s: the trigger fired"
    assert_true after > before, "cpu.pressure some total rose (#{before} -> #{after})"
    assert_true Cgroup::CPU.new(g.group_name).pressure.key?("some") if CgroupTest.version('cpu') == 2
  ensure
    trigger.close if trigger
  end
end

assert('a child over memory.high stalls, memory.pressure rises and a memory trigger fires') do
  skip "no PSI here (no cgroup2 mount, or psi=0)" unless psi?
  skip "memory.high is cgroup v2 only" unless CgroupTest.version('memory') == 2
  CgroupTest.isolate do
    mem = Cgroup::MEMORY.new("#{PREFIX}/squeeze")
    mem.high = 8 << 20
    mem.create
    mem.swap_max = 0
    mem.modify
    g = Cgroup::PRESSURE.new(mem.group_name)
    trigger = g.trigger(:memory, :some, 50_000, WINDOW)
    before = mem.pressure["some"]["total"]
    CgroupTest.start_in(mem, "alloc", 64 << 20) # throttled over memory.high, never done
    assert_true trigger.wait(20), "50 ms of memory stall within 2 s: the trigger fired"
    after = psi_file(g, "memory")["some"]["total"]
    assert_true after > before, "memory.pressure some total rose (#{before} -> #{after})"
  ensure
    trigger.close if trigger
  end
end

assert('a quiet group\'s trigger reaches its timeout; a closed one raises; a removed group is NotFound') do
  skip "no PSI here (no cgroup2 mount, or psi=0)" unless psi?
  CgroupTest.isolate do
    g = Cgroup::PRESSURE.new("#{PREFIX}/quiet").create
    g.attach(CgroupTest.spawn("sleep"))
    trigger = g.trigger("memory", "full", 100_000, WINDOW)
    assert_include trigger.inspect, "memory.pressure \"full 100000 2000000\""
    assert_false trigger.wait(1.0), "nothing stalled: false at the timeout"
    assert_false g.wait_for(:io, :some, 100_000, WINDOW, timeout: 0.5)
    assert_kind_of Integer, trigger.fileno
    trigger.close
    assert_true trigger.closed?
    e = assert_raise(Cgroup::Error) { trigger.wait(0) }
    assert_equal 9, e.errno # EBADF
    empty = Cgroup::PRESSURE.new("#{PREFIX}/quiet/empty").create
    watching = empty.trigger(:cpu, :some, 100_000, WINDOW)
    empty.delete
    e = assert_raise(Cgroup::NotFound) { watching.wait(1) }
    assert_equal "cpu.pressure", e.file
    watching.close
  end
end

assert('bad triggers: resource, kind, stall and window are checked; what the kernel refuses names the spec') do
  skip "no PSI here (no cgroup2 mount, or psi=0)" unless psi?
  CgroupTest.isolate do
    g = Cgroup::PRESSURE.new("#{PREFIX}/bad").create
    [[:disk, :some, 1, WINDOW], ["cpu\0", :some, 1, WINDOW], [:cpu, :most, 1, WINDOW], [:cpu, 1, 1, WINDOW],
     [:cpu, :some, 0, WINDOW], [:cpu, :some, -5, WINDOW], [:cpu, :some, 1, 0]].each do |args|
      assert_raise(ArgumentError, args.inspect) { g.trigger(*args) }
    end
    assert_raise(TypeError) { g.trigger(:cpu, :some, "1", WINDOW) }
    [[:cpu, :some, 3_000_000, WINDOW], [:cpu, :some, 1000, 20_000_000], [:memory, :full, 1000, 10_000_001]].each do |args|
      e = assert_raise(Cgroup::InvalidValue, args.inspect) { g.trigger(*args) }
      assert_equal "#{args[0]}.pressure", e.file
      assert_equal "#{args[1]} #{args[2]} #{args[3]}", e.value
    end
    missing = Cgroup::PRESSURE.new("#{PREFIX}/bad/missing")
    assert_raise(Cgroup::NotFound) { missing.trigger(:cpu, :some, 100_000, WINDOW) }
    assert_raise(Cgroup::NotFound) { missing.cpu }
    assert_false CgroupTest.entries("#{CgroupTest.mount('pressure')}#{g.group_name}").include?("missing")
  end
end

assert('PSI averages read the same under a host locale whose decimal point is a comma') do
  name = CgroupTest.decimal_comma_locale
  skip "no locale with a decimal comma is installed here (tools/bootstrap generates de_DE.UTF-8)" unless name
  g = Cgroup::PRESSURE.new("/")
  text = "some avg10=1.49 avg60=0.50 avg300=12.07 total=123456\nfull avg10=0.01 avg60=0.00 avg300=100.00 total=7\n"
  want = { "some" => { "avg10" => 1.49, "avg60" => 0.5, "avg300" => 12.07, "total" => 123456 },
           "full" => { "avg10" => 0.01, "avg60" => 0.0, "avg300" => 100.0, "total" => 7 } }
  assert_equal want, CgroupTest.parse_as(g, "cpu", text), "C locale"
  CgroupTest.with_locale(name) do
    assert_equal want, CgroupTest.parse_as(g, "cpu", text), name
    if psi?
      got = g.cpu
      assert_equal %w[avg10 avg300 avg60 total], got["some"].keys.sort, "the kernel's own file"
      assert_true got["some"]["avg10"].is_a?(Float)
    end
  end
end
