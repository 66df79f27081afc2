# Every writable attribute round-trips: written through the gem, read back
# from the kernel file by the test itself, and through the gem's reader, on
# whichever cgroup version serves its controller here (v1 or v2).

PREFIX = CgroupTest.prefix

def version(klass)
  CgroupTest.version(klass::CONTROLLER)
end

def first_block_device
  # "MAJ:MIN" of a disk (a RAM disk in the test VMs), not loop or zram
  %w[vda sda nvme0n1 xvda hda ram0].each do |d|
    return CgroupTest.read("/sys/block/#{d}/dev").chomp if CgroupTest.dir?("/sys/block/#{d}")
  end
  nil
end

MiB = 1 << 20

# [class, attribute, value written, [v1 file, its text], [v2 file, its text]];
# nil where that cgroup version has no such attribute.
ROUND_TRIPS = [
  [Cgroup::CPU, :cfs_period_us, 50000, ["cpu.cfs_period_us", "50000"], ["cpu.max", "max 50000"]],
  [Cgroup::CPU, :cfs_quota_us, 25000, ["cpu.cfs_quota_us", "25000"], ["cpu.max", "25000 100000"]],
  [Cgroup::CPU, :cfs_quota_us, -1, ["cpu.cfs_quota_us", "-1"], ["cpu.max", "max 100000"]],
  [Cgroup::CPU, :shares, 262144, ["cpu.shares", "262144"], ["cpu.weight", "10000"]],
  [Cgroup::CPU, :shares, 2, ["cpu.shares", "2"], ["cpu.weight", "1"]],
  [Cgroup::CPU, :cfs_burst_us, 20000, ["cpu.cfs_burst_us", "20000"], ["cpu.max.burst", "20000"]],
  [Cgroup::CPU, :idle, true, ["cpu.idle", "1"], ["cpu.idle", "1"]],
  [Cgroup::CPU, :idle, false, ["cpu.idle", "0"], ["cpu.idle", "0"]],
  [Cgroup::CPU, :rt_period_us, 500000, ["cpu.rt_period_us", "500000"], nil],
  [Cgroup::CPU, :max, "50000 100000", nil, ["cpu.max", "50000 100000"]],
  [Cgroup::CPU, :weight, 200, nil, ["cpu.weight", "200"]],
  [Cgroup::CPUSET, :cpus, "0", ["cpuset.cpus", "0"], ["cpuset.cpus", "0"]],
  [Cgroup::CPUSET, :mems, "0", ["cpuset.mems", "0"], ["cpuset.mems", "0"]],
  [Cgroup::MEMORY, :limit_in_bytes, 64 * MiB, ["memory.limit_in_bytes", "67108864"], ["memory.max", "67108864"]],
  [Cgroup::MEMORY, :soft_limit_in_bytes, 32 * MiB, ["memory.soft_limit_in_bytes", "33554432"], ["memory.low", "33554432"]],
  [Cgroup::MEMORY, :swappiness, 10, ["memory.swappiness", "10"], nil],
  [Cgroup::MEMORY, :move_charge_at_immigrate, 0, ["memory.move_charge_at_immigrate", "0"], nil],
  [Cgroup::MEMORY, :max, 64 * MiB, nil, ["memory.max", "67108864"]],
  [Cgroup::MEMORY, :high, 48 * MiB, nil, ["memory.high", "50331648"]],
  [Cgroup::MEMORY, :high, -1, nil, ["memory.high", "max"]],
  [Cgroup::MEMORY, :low, 16 * MiB, nil, ["memory.low", "16777216"]],
  [Cgroup::MEMORY, :min, 8 * MiB, nil, ["memory.min", "8388608"]],
  [Cgroup::MEMORY, :swap_max, 0, nil, ["memory.swap.max", "0"]],
  [Cgroup::MEMORY, :zswap_max, 4 * MiB, nil, ["memory.zswap.max", "4194304"]],
  [Cgroup::MEMORY, :zswap_max, -1, nil, ["memory.zswap.max", "max"]],
  [Cgroup::MEMORY, :oom_group, true, nil, ["memory.oom.group", "1"]],
  [Cgroup::MEMORY, :oom_group, false, nil, ["memory.oom.group", "0"]],
  [Cgroup::PIDS, :max, 10, ["pids.max", "10"], ["pids.max", "10"]],
  [Cgroup::PIDS, :max, -1, ["pids.max", "max"], ["pids.max", "max"]],
  [Cgroup::IO, :weight, 200, nil, ["io.weight", "default 200"]],
]

ROUND_TRIPS.each do |klass, attr, value, v1, v2|
  assert("#{klass}##{attr} = #{value.inspect} round-trips through the kernel file") do
    v = version(klass)
    skip "#{klass::CONTROLLER} is not available here" unless v
    file, text = v == 2 ? v2 : v1
    CgroupTest.isolate do
      g = klass.new("#{PREFIX}/rt-#{attr}")
      g.create
      if file.nil? || !CgroupTest.file?("#{CgroupTest.mount(klass::CONTROLLER)}#{g.group_name}/#{file}")
        # no such file on this cgroup version or kernel: said, never ignored
        CgroupTest.note "#{klass}##{attr}: no #{file} here, checked that it raises Unsupported" if file
        assert_raise(Cgroup::Unsupported) do
          g.__send__("#{attr}=", value)
          g.modify
        end
        assert_raise(Cgroup::Unsupported) { klass.new(g.group_name).__send__(attr) }
      else
        g.__send__("#{attr}=", value)
        assert_equal value, g.__send__(attr), "staged value reads back before modify"
        g.modify
        assert_equal text, CgroupTest.kernel_file(klass::CONTROLLER, g.group_name, file).chomp
        assert_equal value, klass.new(g.group_name).__send__(attr), "a fresh object reads the kernel"
      end
    end
  end
end

assert('CPU#rt_runtime_us round-trips (inside a parent given an RT budget)') do
  CgroupTest.isolate do
    parent = Cgroup::CPU.new(PREFIX).create
    unless CgroupTest.file?("#{CgroupTest.mount('cpu')}#{PREFIX}/cpu.rt_runtime_us")
      assert_raise(Cgroup::Unsupported) { parent.rt_runtime_us = 20000; parent.modify }
      skip "no cpu.rt_runtime_us on this kernel or cgroup version (Unsupported raised)"
    end
    parent.rt_runtime_us = 20000
    parent.modify
    g = Cgroup::CPU.new("#{PREFIX}/rt")
    g.rt_runtime_us = 10000
    g.create
    assert_equal "20000", CgroupTest.kernel_file('cpu', PREFIX, 'cpu.rt_runtime_us').chomp
    assert_equal "10000", CgroupTest.kernel_file('cpu', g.group_name, 'cpu.rt_runtime_us').chomp
    assert_equal 10000, Cgroup::CPU.new(g.group_name).rt_runtime_us
  end
end

assert('cgroup v2: setting one of cfs_quota_us and cfs_period_us keeps the other in cpu.max') do
  skip "cpu is served by cgroup v1 here" unless version(Cgroup::CPU) == 2
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/cpumax")
    g.cfs_quota_us = 30000
    g.create
    assert_equal "30000 100000", CgroupTest.kernel_file('cpu', g.group_name, 'cpu.max').chomp
    g.cfs_period_us = 60000
    g.modify
    assert_equal "30000 60000", CgroupTest.kernel_file('cpu', g.group_name, 'cpu.max').chomp
    assert_equal [30000, 60000], [g.cfs_quota_us, g.cfs_period_us]
    assert_equal "30000 60000", g.max
    g.shares = 1024
    g.modify
    assert_equal "100", CgroupTest.kernel_file('cpu', g.group_name, 'cpu.weight').chomp
  end
end

assert('cgroup v2: shares become cpu.weight exactly as runc and crun map them (rounded up)') do
  skip "cpu is served by cgroup v1 here" unless version(Cgroup::CPU) == 2
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/weights").create
    # the values the runtimes' mapping gives (issue 14), then its formula between them
    expected = { 2 => 1, 3 => 2, 512 => 59, 1024 => 100, 262144 => 10000 }
    [10, 100, 256, 2048, 4096, 10000, 65536, 100000, 262143].each do |shares|
      l = Math.log2(shares)
      expected[shares] = (10 ** ((l * l + 125 * l) / 612.0 - 7.0 / 34.0)).ceil
    end
    expected.each do |shares, weight|
      g.shares = shares
      g.modify
      assert_equal weight.to_s, CgroupTest.kernel_file('cpu', g.group_name, 'cpu.weight').chomp, "shares #{shares}"
    end
  end
end

assert('MEMORY#oom_control = true disables the OOM killer (cgroup v1)') do
  skip "memory is served by cgroup v2 here" unless version(Cgroup::MEMORY) == 1
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/oomctl")
    g.oom_control = true
    assert_true g.oom_control, "staged"
    g.create
    text = CgroupTest.kernel_file('memory', g.group_name, 'memory.oom_control')
    assert_include text.split("\n"), "oom_kill_disable 1"
    assert_true Cgroup::MEMORY.new(g.group_name).oom_control
    assert_equal 0, g.oom_kill_count
    g.oom_control = false
    g.modify
    assert_include CgroupTest.kernel_file('memory', g.group_name, 'memory.oom_control').split("\n"), "oom_kill_disable 0"
    assert_false g.oom_control
  end
end

assert('v1-only attributes raise Cgroup::Unsupported on cgroup v2, v2-only ones on v1') do
  mem = Cgroup::MEMORY.new("#{PREFIX}/x")
  if version(Cgroup::MEMORY) == 2
    e = assert_raise(Cgroup::Unsupported) { mem.swappiness = 10 }
    assert_equal "memory.swappiness", e.file
    assert_raise(Cgroup::Unsupported) { mem.oom_control }
    assert_raise(Cgroup::Unsupported) { mem.cgroup_event_control = "1 2" }
    assert_raise(Cgroup::Unsupported) { mem.memsw_max_usage_in_bytes }
    assert_raise(Cgroup::Unsupported) { Cgroup::CPUACCT.new("/x").usage = 0 }
    assert_raise(Cgroup::Unsupported) { Cgroup::CPUACCT.new("/x").usage_percpu }
    assert_raise(Cgroup::Unsupported) { Cgroup::CPU.new("/x").rt_runtime_us = 1 }
    if version(Cgroup::BLKIO) == 2
      assert_raise(Cgroup::Unsupported) { Cgroup::BLKIO.new("/x").io_service_bytes }
      assert_raise(Cgroup::Unsupported) { Cgroup::BLKIO.new("/x").io_serviced }
    end
  else
    assert_raise(Cgroup::Unsupported) { mem.high = 10 }
    assert_raise(Cgroup::Unsupported) { Cgroup::MEMORY.new(PREFIX).raw_events }
    assert_raise(Cgroup::Unsupported) { Cgroup::CPU.new("/x").weight }
    assert_raise(Cgroup::Unsupported) { Cgroup::IO.new("/x").max }
  end
end

assert('BLKIO throttles round-trip as "MAJ:MIN VALUE" (blkio.throttle.* on v1, io.max on v2)') do
  dev = first_block_device
  skip "no block device in /sys/block to throttle" unless dev
  CgroupTest.isolate do
    g = Cgroup::BLKIO.new("#{PREFIX}/io").create
    v2 = version(Cgroup::BLKIO) == 2
    { throttle_read_bps_device: [1048576, "rbps"], throttle_write_bps_device: [2097152, "wbps"],
      throttle_read_iops_device: [100, "riops"], throttle_write_iops_device: [200, "wiops"] }.each do |attr, (v, key)|
      g.__send__("#{attr}=", "#{dev} #{v}")
      g.modify
      if v2
        line = CgroupTest.kernel_file('blkio', g.group_name, "io.max").split("\n").find { |l| l.start_with?("#{dev} ") }
        assert_include line.split, "#{key}=#{v}"
      else
        file = "blkio." + attr.to_s.sub('throttle_', 'throttle.')
        assert_equal "#{dev} #{v}", CgroupTest.kernel_file('blkio', g.group_name, file).chomp
      end
      assert_equal "#{dev} #{v}", Cgroup::BLKIO.new(g.group_name).__send__(attr)
    end
    if v2
      assert_equal "#{dev} rbps=1048576 wbps=2097152 riops=100 wiops=200", Cgroup::IO.new(g.group_name).max
      g.throttle_read_bps_device = "#{dev} 0" # 0 removes the limit, as on v1
      g.modify
      assert_equal "", g.throttle_read_bps_device
      assert_kind_of Hash, Cgroup::IO.new(g.group_name).stat
      io = Cgroup::IO.new(g.group_name)
      io.max = "#{dev} riops=50" # IO#max= writes an io.max line as it is
      io.modify
      line = CgroupTest.kernel_file('blkio', g.group_name, "io.max").split("\n").find { |l| l.start_with?("#{dev} ") }
      assert_include line.split, "riops=50"
    end
  end
end

assert('Cgroup::USER_HZ is the kernel\'s clock tick (getconf CLK_TCK): v1 cpuacct.stat ticks become microseconds') do
  skip "no getconf here (the VMs' busybox)" unless CgroupTest.file?("/usr/bin/getconf")
  out, status = CgroupTest.capture_as(CgroupTest.uid, "/usr/bin/getconf", "CLK_TCK")
  assert_equal 0, status
  assert_equal out.to_i, Cgroup::USER_HZ
end

assert('CPUACCT#usage counts a busy child; usage = 0 resets it on cgroup v1') do
  CgroupTest.isolate do
    g = Cgroup::CPUACCT.new("#{PREFIX}/acct").create
    pid = CgroupTest.start_in(g, "spin_cpu", 100) # 100 ms of CPU time, not of the clock
    assert_equal [0, nil], CgroupTest.wait(pid)
    if version(Cgroup::CPUACCT) == 2
      usec = CgroupTest.kernel_file('cpuacct', g.group_name, 'cpu.stat').split("\n").find { |l| l.start_with?("usage_usec ") }.split[1].to_i
      assert_true usec >= 95_000, "a 100 ms spin shows in cpu.stat usage_usec (#{usec})"
      assert_equal usec * 1000, g.usage
      kernel = CgroupTest.kernel_file('cpuacct', g.group_name, 'cpu.stat').split("\n").to_h { |l| k, v = l.split; [k, v.to_i] }
      keys = %w[system_usec usage_usec user_usec]
      stat = g.stat
      assert_equal keys.map { |k| kernel[k] }, keys.map { |k| stat[k] }
    else
      used = CgroupTest.kernel_file('cpuacct', g.group_name, 'cpuacct.usage').to_i
      assert_true used >= 95_000_000, "a 100 ms spin shows in cpuacct.usage (#{used} ns)"
      assert_equal used, g.usage
      assert_equal used, g.usage_percpu.inject(0) { |a, b| a + b }
      assert_equal %w[system user], g.raw_stat.keys.sort
      stat = g.stat # in v2's units: microseconds, from cpuacct.usage and USER_HZ ticks
      assert_equal %w[system_usec usage_usec user_usec], stat.keys.sort
      assert_equal used / 1000, stat["usage_usec"]
      assert_equal g.raw_stat["user"] * 1_000_000 / Cgroup::USER_HZ, stat["user_usec"]
      g.usage = 0
      g.modify
      assert_equal "0", CgroupTest.kernel_file('cpuacct', g.group_name, 'cpuacct.usage').chomp
      assert_equal 0, g.usage
    end
  end
end

assert('stat readers and counters are read live from the kernel') do
  CgroupTest.isolate do
    cpu = Cgroup::CPU.new("#{PREFIX}/st").create
    mem = Cgroup::MEMORY.new("#{PREFIX}/st").create
    assert_equal 0, cpu.stat["nr_throttled"]
    assert_true mem.stat.values.all? { |v| v.is_a?(Integer) }
    kernel = CgroupTest.kernel_file('memory', mem.group_name, 'memory.stat').split("\n").map(&:split)
    assert_equal kernel.map(&:first), mem.raw_stat.keys
    assert_true %w[anon file file_mapped file_dirty file_writeback].all? { |k| mem.stat.key?(k) }, mem.stat.keys.inspect
    usage_file = version(Cgroup::MEMORY) == 2 ? 'memory.current' : 'memory.usage_in_bytes'
    assert_equal CgroupTest.kernel_file('memory', mem.group_name, usage_file).to_i, mem.usage_in_bytes
    assert_kind_of Integer, mem.memsw_usage_in_bytes
    assert_equal 0, mem.failcnt
    assert_equal 0, mem.oom_kill_count
    if version(Cgroup::MEMORY) == 2
      events = mem.events
      assert_true %w[low high max oom oom_kill].all? { |k| events.key?(k) }, events.keys.inspect
      assert_equal mem.usage_in_bytes, mem.current
    else
      assert_kind_of Integer, mem.max_usage_in_bytes
      assert_kind_of Integer, mem.memsw_max_usage_in_bytes
    end
    pids = Cgroup::PIDS.new("#{PREFIX}/st").create
    assert_equal 0, pids.current
    assert_equal({ "max" => 0 }, pids.events)
  end
end

assert('MEMORY#memsw_usage_in_bytes reads the kernel\'s memory+swap usage; v2-only readers are Unsupported on v1') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/swapuse").create
    if version(Cgroup::MEMORY) == 2
      want = %w[memory.swap.current memory.current].map { |f| CgroupTest.kernel_file('memory', g.group_name, f).to_i }.inject(:+)
      assert_equal want, g.memsw_usage_in_bytes
    else
      assert_equal CgroupTest.kernel_file('memory', g.group_name, 'memory.memsw.usage_in_bytes').to_i, g.memsw_usage_in_bytes
      assert_equal CgroupTest.kernel_file('memory', g.group_name, 'memory.memsw.max_usage_in_bytes').to_i, g.memsw_max_usage_in_bytes
      %i[current peak].each do |attr|
        e = assert_raise(Cgroup::Unsupported) { g.__send__(attr) }
        assert_include e.message, "cgroup v2 only"
      end
    end
  end
end

assert('memsw_limit_in_bytes is written after limit_in_bytes, which it must not be below') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/memsw")
    g.memsw_limit_in_bytes = 128 * MiB
    g.limit_in_bytes = 64 * MiB
    g.create
    if version(Cgroup::MEMORY) == 2
      # memory.swap.max holds what memory+swap allows beyond memory.max
      assert_equal (64 * MiB).to_s, CgroupTest.kernel_file('memory', g.group_name, 'memory.swap.max').chomp
      assert_equal (64 * MiB).to_s, CgroupTest.kernel_file('memory', g.group_name, 'memory.max').chomp
    else
      assert_equal (128 * MiB).to_s, CgroupTest.kernel_file('memory', g.group_name, 'memory.memsw.limit_in_bytes').chomp
      assert_equal (64 * MiB).to_s, CgroupTest.kernel_file('memory', g.group_name, 'memory.limit_in_bytes').chomp
    end
    assert_equal 128 * MiB, Cgroup::MEMORY.new(g.group_name).memsw_limit_in_bytes
  end
end

# The two memory limits as the kernel holds them, in MiB (-1: none): v1's
# memory and memory+swap files, or v2's memory.max and memory.max plus
# memory.swap.max.  v1's "none" is a page count near 2**63, told by its 19
# digits: valgrind's emulation makes mruby 3.1 compare 67108864 >= 2**62 as
# true.
def memory_pair(g)
  mib = ->(text) { text.chomp == "max" || text.chomp.size > 18 ? -1 : text.to_i / MiB }
  files = version(Cgroup::MEMORY) == 2 ? %w[memory.max memory.swap.max] : %w[memory.limit_in_bytes memory.memsw.limit_in_bytes]
  mem, other = files.map { |f| mib.(CgroupTest.kernel_file('memory', g.group_name, f)) }
  return [mem, other] if version(Cgroup::MEMORY) == 1
  [mem, mem == -1 || other == -1 ? -1 : mem + other]
end

def stage_pair(g, pair)
  g.limit_in_bytes, g.memsw_limit_in_bytes = pair.map { |v| v == -1 ? -1 : v * MiB }
  g
end

# From 64/128 MiB: up, unlimited, down, up again, and small steps.  v1 refuses
# a memory limit above memory+swap's at every step, so the order of the two
# writes must follow the direction of the change.
MEMORY_PAIR_STEPS = [[256, 512], [-1, -1], [32, 48], [48, 48], [512, 1024], [100, 110], [64, 128]]

assert('both memory limits raised, unlimited and lowered in one modify each') do
  CgroupTest.isolate do
    g = stage_pair(Cgroup::MEMORY.new("#{PREFIX}/pair"), [64, 128]).create
    assert_equal [64, 128], memory_pair(g)
    MEMORY_PAIR_STEPS.each do |pair|
      stage_pair(g, pair).modify
      assert_equal pair, memory_pair(g), "one modify to #{pair.inspect}"
    end
  end
end

assert('both memory limits raised, unlimited and lowered in one create of an existing group') do
  CgroupTest.isolate do
    name = "#{PREFIX}/pair-create"
    stage_pair(Cgroup::MEMORY.new(name), [64, 128]).create
    MEMORY_PAIR_STEPS.each do |pair|
      g = stage_pair(Cgroup::MEMORY.new(name), pair).create
      assert_equal pair, memory_pair(g), "one create to #{pair.inspect}"
    end
    [[-1, -1], [32, 48]].each_with_index do |pair, i| # and new groups
      g = stage_pair(Cgroup::MEMORY.new("#{name}-#{i}"), pair).create
      assert_equal pair, memory_pair(g), "a new group at #{pair.inspect}"
    end
  end
end

assert('a memory limit above memory+swap is refused, dropped, and said why (v1)') do
  skip "memory+swap is a limit of its own on v1 only" if version(Cgroup::MEMORY) == 2
  CgroupTest.isolate do
    g = stage_pair(Cgroup::MEMORY.new("#{PREFIX}/over"), [64, 128]).create
    g.limit_in_bytes = 256 * MiB
    e = assert_raise(Cgroup::InvalidValue) { g.modify }
    assert_equal ["memory.limit_in_bytes", (256 * MiB).to_s], [e.file, e.value]
    assert_include e.message, "above memory.memsw.limit_in_bytes"
    assert_equal 64 * MiB, g.limit_in_bytes, "the reader shows the kernel's value again"
    g.memsw_limit_in_bytes = 32 * MiB
    e = assert_raise(Cgroup::InvalidValue) { g.modify }
    assert_include e.message, "below memory.limit_in_bytes"
    assert_equal [64, 128], memory_pair(g)
  end
end

assert('a value the kernel refuses raises InvalidValue naming the file; nothing changes') do
  CgroupTest.isolate do
    g = Cgroup::CPUSET.new("#{PREFIX}/refused").create
    before = CgroupTest.kernel_file('cpuset', g.group_name, 'cpuset.cpus')
    g.cpus = "999" # no such CPU
    e = assert_raise(Cgroup::InvalidValue) { g.modify }
    assert_equal "cpuset.cpus", e.file
    assert_equal "999", e.value
    assert_include [22, 34], e.errno # EINVAL or ERANGE
    assert_equal "cpuset", e.controller
    assert_equal g.group_name, e.group
    assert_equal before, CgroupTest.kernel_file('cpuset', g.group_name, 'cpuset.cpus')
    assert_equal before.chomp, g.cpus, "the refused value is dropped: the reader shows the kernel's"
    pid = CgroupTest.spawn("sleep")
    g.attach(pid) # nothing staged is left to raise again
    assert_equal g.group_name, CgroupTest.group_of(pid, 'cpuset')
    CgroupTest.kill(pid)
    CgroupTest.wait(pid)
    g.cpus = "0"
    g.modify
    assert_equal "0", CgroupTest.kernel_file('cpuset', g.group_name, 'cpuset.cpus').chomp
  end
end

assert('a value attach finds refused stays staged and raises at every attach: no task moves in without it') do
  CgroupTest.isolate do
    g = Cgroup::CPUSET.new("#{PREFIX}/closed").create
    pid = CgroupTest.spawn("sleep")
    g.cpus = "999"
    2.times do
      e = assert_raise(Cgroup::InvalidValue) { g.attach(pid) }
      assert_equal ["cpuset.cpus", "999"], [e.file, e.value]
      assert_not_include CgroupTest.pids_in('cpuset', g.group_name), pid
    end
    assert_equal "999", g.cpus, "still staged"
    assert_raise(Cgroup::InvalidValue) { g.modify } # modify drops it
    g.attach(pid)
    assert_equal g.group_name, CgroupTest.group_of(pid, 'cpuset')
    CgroupTest.kill(pid)
    CgroupTest.wait(pid)
  end
end

assert('a value whose group is gone stays staged, for a create to write') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/later")
    g.max = 42
    e = assert_raise(Cgroup::NotFound) { g.modify }
    assert_equal g.group_name, e.group
    assert_equal 42, g.max
    g.create
    assert_equal "42", CgroupTest.kernel_file('pids', g.group_name, 'pids.max').chomp
  end
end

assert('a create that is refused removes its group and keeps what went into it staged') do
  CgroupTest.isolate do
    c = Cgroup::CPUSET.new("#{PREFIX}/retry")
    c.cpus = "0"
    c.mems = "999" # no such node: refused after cpus went in
    e = assert_raise(Cgroup::InvalidValue) { c.create }
    assert_equal "cpuset.mems", e.file
    assert_equal ["cpus"], e.written
    assert_false CgroupTest.dir?(CgroupTest.group_dir('cpuset', c.group_name)), "the new group is removed"
    assert_equal "0", c.cpus, "cpus went into the removed group: still staged"
    c.create # without the refused mems: inherited from the parent
    assert_equal "0", CgroupTest.kernel_file('cpuset', c.group_name, 'cpuset.cpus').chomp
  end
end

assert('a refused value names itself; #written lists what went in before it') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/partial").create
    g.limit_in_bytes = 64 * MiB
    if version(Cgroup::MEMORY) == 2
      g.memsw_limit_in_bytes = 32 * MiB # below the memory limit: no memory.swap.max for it
      e = assert_raise(Cgroup::InvalidValue) { g.modify }
      assert_equal "memory.swap.max", e.file
      limit_file = "memory.max"
    else
      g.swappiness = 201
      e = assert_raise(Cgroup::InvalidValue) { g.modify }
      assert_equal "memory.swappiness", e.file
      limit_file = "memory.limit_in_bytes"
    end
    assert_equal ["limit_in_bytes"], e.written
    assert_equal (64 * MiB).to_s, CgroupTest.kernel_file('memory', g.group_name, limit_file).chomp
  end
end

assert('a setting reads as staged while pending, else from the kernel') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/staged").create
    assert_equal(-1, g.max)
    g.max = 300
    assert_equal 300, g.max
    assert_equal "max", CgroupTest.kernel_file('pids', g.group_name, 'pids.max').chomp, "nothing written yet"
    g.modify
    assert_equal "300", CgroupTest.kernel_file('pids', g.group_name, 'pids.max').chomp
  end
end

assert('CPU#cpuacct is the CPUACCT object of the same group') do
  acct = Cgroup::CPU.new("/a/b").cpuacct
  assert_kind_of Cgroup::CPUACCT, acct
  assert_equal "/a/b", acct.group_name
end

assert('writers refuse the wrong Ruby type with TypeError') do
  g = Cgroup::PIDS.new("#{PREFIX}/types")
  assert_raise(TypeError) { g.max = "1024" }
  assert_raise(TypeError) { g.max = 1.5 }
  assert_raise(TypeError) { g.max = nil }
  assert_raise(TypeError) { Cgroup::CPUSET.new("/x").cpus = 0 }
end

assert('Cgroup.version and Cgroup.controllers agree with the mounts') do
  %w[cpu cpuacct cpuset blkio memory pids].each do |c|
    assert_equal CgroupTest.version(c), Cgroup.version(c), c
  end
  assert_equal Cgroup.version(:memory), Cgroup.version("memory")
  assert_include Cgroup.controllers, "memory" if CgroupTest.version("memory")
  assert_raise(ArgumentError) { Cgroup.version("nonsense") }
  assert_equal CgroupTest.group_of(CgroupTest.tid, "memory"), Cgroup.current_path(:memory)
  assert_equal CgroupTest.group_of(CgroupTest.tid, "cpu"), Cgroup.current_path(:cpu)
end
