# Every writable attribute round-trips: written through the gem, read back
# from the kernel file by the test itself, and through the gem's reader.

PREFIX = CgroupTest.prefix

def kernel_file(controller, group, file)
  CgroupTest.read("#{CgroupTest.mount(controller)}#{group}/#{file}")
end

def first_block_device
  # "MAJ:MIN" of a real disk (not loop/zram/ram), for blkio throttles
  %w[vda sda nvme0n1 xvda hda].each do |d|
    return CgroupTest.read("/sys/block/#{d}/dev").chomp if CgroupTest.dir?("/sys/block/#{d}")
  end
  nil
end

# [class, attribute, value written, what the kernel file then holds]
ROUND_TRIPS = [
  [Cgroup::CPU, :cfs_period_us, 50000, "50000"],
  [Cgroup::CPU, :cfs_quota_us, 25000, "25000"],
  [Cgroup::CPU, :cfs_quota_us, -1, "-1"],
  [Cgroup::CPU, :shares, 512, "512"],
  [Cgroup::CPU, :rt_period_us, 500000, "500000"],
  [Cgroup::CPUSET, :cpus, "0", "0"],
  [Cgroup::CPUSET, :mems, "0", "0"],
  [Cgroup::MEMORY, :limit_in_bytes, 64 << 20, (64 << 20).to_s],
  [Cgroup::MEMORY, :soft_limit_in_bytes, 32 << 20, (32 << 20).to_s],
  [Cgroup::MEMORY, :swappiness, 10, "10"],
  [Cgroup::MEMORY, :move_charge_at_immigrate, 0, "0"],
  [Cgroup::PIDS, :max, 10, "10"],
  [Cgroup::PIDS, :max, -1, "max"],
]

ROUND_TRIPS.each do |klass, attr, value, kernel_text|
  assert("#{klass}##{attr} = #{value.inspect} round-trips through #{klass::CONTROLLER}") do
    begin
      g = klass.new("#{PREFIX}/rt-#{attr}")
      g.create
      g.__send__("#{attr}=", value)
      assert_equal value, g.__send__(attr), "staged value reads back before modify"
      g.modify
      file = klass::CONTROLLER + '.' + attr.to_s.sub('memsw_', 'memsw.')
      assert_equal kernel_text, kernel_file(klass::CONTROLLER, g.group_name, file).chomp
      assert_equal value, klass.new(g.group_name).__send__(attr), "a fresh object reads the kernel"
    ensure
      CgroupTest.cleanup
    end
  end
end

assert('CPU#rt_runtime_us round-trips (inside a parent given an RT budget)') do
  begin
    parent = Cgroup::CPU.new(PREFIX)
    parent.rt_runtime_us = 20000
    parent.create
    g = Cgroup::CPU.new("#{PREFIX}/rt")
    g.rt_runtime_us = 10000
    g.create
    assert_equal "20000", kernel_file('cpu', PREFIX, 'cpu.rt_runtime_us').chomp
    assert_equal "10000", kernel_file('cpu', g.group_name, 'cpu.rt_runtime_us').chomp
    assert_equal 10000, Cgroup::CPU.new(g.group_name).rt_runtime_us
  ensure
    CgroupTest.cleanup
  end
end

assert('MEMORY#oom_control = true disables the OOM killer; oom_kill_count reads oom_control') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/oomctl")
    g.oom_control = true
    g.create
    text = kernel_file('memory', g.group_name, 'memory.oom_control')
    assert_include text.split("\n"), "oom_kill_disable 1"
    assert_true Cgroup::MEMORY.new(g.group_name).oom_control
    assert_equal 0, g.oom_kill_count
    g.oom_control = false
    g.modify
    assert_include kernel_file('memory', g.group_name, 'memory.oom_control').split("\n"), "oom_kill_disable 0"
    assert_false g.oom_control
  ensure
    CgroupTest.cleanup
  end
end

assert('BLKIO throttles round-trip as "MAJ:MIN VALUE"') do
  dev = first_block_device
  skip "no real block device in /sys/block to throttle" unless dev
  begin
    g = Cgroup::BLKIO.new("#{PREFIX}/io")
    g.create
    { throttle_read_bps_device: 1048576, throttle_write_bps_device: 2097152,
      throttle_read_iops_device: 100, throttle_write_iops_device: 200 }.each do |attr, v|
      g.__send__("#{attr}=", "#{dev} #{v}")
      g.modify
      file = "blkio." + attr.to_s.sub('throttle_', 'throttle.')
      assert_equal "#{dev} #{v}", kernel_file('blkio', g.group_name, file).chomp
      assert_equal "#{dev} #{v}", Cgroup::BLKIO.new(g.group_name).__send__(attr)
    end
  ensure
    CgroupTest.cleanup
  end
end

assert('CPUACCT#usage = 0 resets the counter a busy child raised') do
  begin
    g = Cgroup::CPUACCT.new("#{PREFIX}/acct")
    g.create
    pid = CgroupTest.spawn("spin", 100)
    g.attach(pid)
    CgroupTest.release(pid)
    assert_equal [0, nil], CgroupTest.wait(pid)
    used = kernel_file('cpuacct', g.group_name, 'cpuacct.usage').to_i
    assert_true used > 50_000_000, "a 100 ms spin shows in cpuacct.usage (#{used} ns)"
    assert_equal used, g.usage
    assert_equal used, g.usage_percpu.inject(0) { |a, b| a + b }
    assert_equal %w[system user], g.stat.keys.sort
    g.usage = 0
    g.modify
    assert_equal "0", kernel_file('cpuacct', g.group_name, 'cpuacct.usage').chomp
    assert_equal 0, g.usage
  ensure
    CgroupTest.cleanup
  end
end

assert('stat readers return Hashes of Integers read live from the kernel') do
  begin
    cpu = Cgroup::CPU.new("#{PREFIX}/st")
    cpu.create
    mem = Cgroup::MEMORY.new("#{PREFIX}/st")
    mem.create
    assert_equal 0, cpu.stat["nr_throttled"]
    assert_include mem.stat.keys, "rss"
    assert_true mem.stat.values.all? { |v| v.is_a?(Integer) }
    kernel = kernel_file('memory', mem.group_name, 'memory.stat').split("\n").map(&:split)
    assert_equal kernel.map(&:first), mem.stat.keys
    assert_equal kernel_file('memory', mem.group_name, 'memory.usage_in_bytes').to_i, mem.usage_in_bytes
    assert_kind_of Integer, mem.max_usage_in_bytes
    assert_kind_of Integer, mem.memsw_usage_in_bytes
    assert_kind_of Integer, mem.memsw_max_usage_in_bytes
    assert_equal 0, mem.failcnt
    pids = Cgroup::PIDS.new("#{PREFIX}/st")
    pids.create
    assert_equal 0, pids.current
  ensure
    CgroupTest.cleanup
  end
end

assert('memsw_limit_in_bytes is written after limit_in_bytes, which it must not be below') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/memsw")
    g.memsw_limit_in_bytes = 128 << 20
    g.limit_in_bytes = 64 << 20
    g.create
    assert_equal (128 << 20).to_s, kernel_file('memory', g.group_name, 'memory.memsw.limit_in_bytes').chomp
    assert_equal (64 << 20).to_s, kernel_file('memory', g.group_name, 'memory.limit_in_bytes').chomp
    assert_equal 128 << 20, Cgroup::MEMORY.new(g.group_name).memsw_limit_in_bytes
  ensure
    CgroupTest.cleanup
  end
end

assert('a value the kernel refuses raises InvalidValue naming the file; nothing changes') do
  begin
    g = Cgroup::MEMORY.new("#{PREFIX}/refused")
    g.create
    g.swappiness = 201 # the kernel takes 0..200
    e = assert_raise(Cgroup::InvalidValue) { g.modify }
    assert_equal "memory.swappiness", e.file
    assert_equal "201", e.value
    assert_equal 22, e.errno
    assert_equal "memory", e.controller
    assert_equal g.group_name, e.group
    assert_not_equal "201", kernel_file('memory', g.group_name, 'memory.swappiness').chomp
    assert_equal 201, g.swappiness, "still staged after the refusal"
    g.swappiness = 60
    g.modify
    assert_equal "60", kernel_file('memory', g.group_name, 'memory.swappiness').chomp
  ensure
    CgroupTest.cleanup
  end
end

assert('a setting reads as staged while pending, else from the kernel') do
  begin
    g = Cgroup::CPU.new("#{PREFIX}/staged")
    g.create
    assert_equal 1024, g.shares
    g.shares = 300
    assert_equal 300, g.shares
    assert_equal "1024", kernel_file('cpu', g.group_name, 'cpu.shares').chomp, "nothing written yet"
    g.modify
    assert_equal "300", kernel_file('cpu', g.group_name, 'cpu.shares').chomp
  ensure
    CgroupTest.cleanup
  end
end

assert('CPU#cpuacct is the CPUACCT object of the same group') do
  acct = Cgroup::CPU.new("/a/b").cpuacct
  assert_kind_of Cgroup::CPUACCT, acct
  assert_equal "/a/b", acct.group_name
end

assert('writers refuse the wrong Ruby type with TypeError') do
  g = Cgroup::MEMORY.new("#{PREFIX}/types")
  assert_raise(TypeError) { g.limit_in_bytes = "1024" }
  assert_raise(TypeError) { g.limit_in_bytes = 1.5 }
  assert_raise(TypeError) { g.limit_in_bytes = nil }
  assert_raise(TypeError) { g.oom_control = 1 }
  assert_raise(TypeError) { Cgroup::CPUSET.new("/x").cpus = 0 }
end
