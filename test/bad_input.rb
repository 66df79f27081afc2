# Bad input: every row raises exactly the expected exception, and afterwards
# no group, setting or task under this run's prefix has changed.

PREFIX = CgroupTest.prefix
SETTINGS = %w[cpu.cfs_quota_us cpu.cfs_period_us cpu.shares cpu.max cpu.weight cpuset.cpus
              cpuset.mems memory.limit_in_bytes memory.memsw.limit_in_bytes memory.max memory.high
              memory.low memory.swap.max memory.swappiness pids.max io.max
              blkio.throttle.read_bps_device tasks cgroup.procs cgroup.subtree_control]
CLASSES = [Cgroup::CPU, Cgroup::CPUACCT, Cgroup::CPUSET, Cgroup::BLKIO, Cgroup::MEMORY, Cgroup::PIDS]

def available?(klass)
  !CgroupTest.version(klass::CONTROLLER).nil?
end

# Every group below the prefix in every hierarchy, with its settings.
def snapshot
  state = {}
  walk = lambda do |dir|
    names = CgroupTest.entries(dir)
    state[dir] = SETTINGS.select { |f| names.include?(f) }.map { |f| [f, CgroupTest.read("#{dir}/#{f}")] }
    names.each { |n| walk.call("#{dir}/#{n}") if CgroupTest.dir?("#{dir}/#{n}") }
  end
  CLASSES.select { |k| available?(k) }.map { |k| CgroupTest.mount(k::CONTROLLER) }.uniq.each do |m|
    walk.call("#{m}#{PREFIX}") if CgroupTest.dir?("#{m}#{PREFIX}")
  end
  state
end

$rows = 0
# One row: the block raises exactly `klass` and changes nothing.
def refused(klass, what)
  before = snapshot
  e = assert_raise(klass, what) { yield }
  assert_equal klass, e.class, what if e.is_a?(Exception)
  assert_equal before, snapshot, "#{what}: nothing changed"
  $rows += 1
  e
end

# Fixture groups, one per class, with a known setting each.
def fixtures
  CLASSES.select { |k| available?(k) }.map do |k|
    g = k.new("#{PREFIX}/fixture")
    g.create
    g
  end
end

# an Integer beyond 64 bits where mruby has bigints, else (the nearest thing) a Float
BIG = begin
  2**64
rescue RangeError
  2.0**64
end
BIG_ERROR = BIG.is_a?(Integer) ? RangeError : TypeError

assert('bad group names raise Cgroup::InvalidValue, wrong types TypeError; nothing is touched') do
  CgroupTest.isolate do
    fixtures
    ["", "//", "/a//", "/a//b", "/a/../b", "..", ".", "a/./b", "/..", "../etc", "a\0b", "a\nb",
     "a\tb", "a\x7f", "x" * 256, "/a/" + "y" * 256, "a/" * 2100].each do |bad|
      CLASSES.each do |k|
        e = refused(Cgroup::InvalidValue, "#{k}.new(#{bad[0, 20].inspect})") { k.new(bad) }
        assert_equal k::CONTROLLER, e.controller if k::CONTROLLER != "cpuacct" && k::CONTROLLER != "blkio"
      end
    end
    [nil, 1, :sym, ["/a"]].each do |bad|
      refused(TypeError, "new(#{bad.inspect})") { Cgroup::CPU.new(bad) }
    end
  end
end

INTEGER_SETTINGS = [
  [Cgroup::CPU, :cfs_period_us], [Cgroup::CPU, :cfs_quota_us], [Cgroup::CPU, :shares],
  [Cgroup::CPU, :rt_period_us], [Cgroup::CPU, :rt_runtime_us], [Cgroup::CPU, :weight],
  [Cgroup::MEMORY, :limit_in_bytes], [Cgroup::MEMORY, :memsw_limit_in_bytes],
  [Cgroup::MEMORY, :soft_limit_in_bytes], [Cgroup::MEMORY, :swappiness],
  [Cgroup::MEMORY, :move_charge_at_immigrate], [Cgroup::MEMORY, :high], [Cgroup::MEMORY, :low],
  [Cgroup::MEMORY, :min], [Cgroup::MEMORY, :max], [Cgroup::MEMORY, :swap_max],
  [Cgroup::MEMORY, :zswap_max], [Cgroup::CPU, :cfs_burst_us],
  [Cgroup::PIDS, :max], [Cgroup::CPUACCT, :usage],
]

assert('integer settings: negative, huge and non-Integer values are refused before the kernel') do
  CgroupTest.isolate do
    fixtures
    INTEGER_SETTINGS.each do |k, attr|
      next unless available?(k)
      g = k.new("#{PREFIX}/fixture")
      begin
        g.__send__("#{attr}=", 0)
      rescue Cgroup::Unsupported
        refused(Cgroup::Unsupported, "#{k}##{attr}= on this cgroup version") { g.__send__("#{attr}=", -2) }
        next
      end
      g = k.new("#{PREFIX}/fixture") # nothing staged
      [-2, -100, -9223372036854775807].each do |v|
        refused(RangeError, "#{k}##{attr} = #{v}") { g.__send__("#{attr}=", v) }
      end
      refused(BIG_ERROR, "#{k}##{attr} = 2**63") { g.__send__("#{attr}=", BIG) }
      ["1024", 1.5, nil, true, :max, [1]].each do |v|
        refused(TypeError, "#{k}##{attr} = #{v.inspect}") { g.__send__("#{attr}=", v) }
      end
      refused(ArgumentError, "#{k}##{attr} with 2 arguments") { g.__send__("#{attr}=", 1, 2) }
    end
  end
end

assert('values the kernel refuses raise InvalidValue (or NotFound for a device) and leave the group as it was') do
  CgroupTest.isolate do
    fixtures
    dev = %w[vda sda nvme0n1 xvda hda ram0].map { |d| "/sys/block/#{d}/dev" }.find { |f| CgroupTest.file?(f) }
    dev = dev ? CgroupTest.read(dev).chomp : "8:0"
    rows = [
      [Cgroup::CPU, :cfs_period_us, 1 << 40, Cgroup::InvalidValue],
      [Cgroup::CPU, :cfs_quota_us, 5, Cgroup::InvalidValue],
      [Cgroup::PIDS, :max, 1 << 40, Cgroup::InvalidValue],
      [Cgroup::CPUSET, :cpus, "99999", Cgroup::InvalidValue],
      [Cgroup::CPUSET, :cpus, "0-", Cgroup::InvalidValue],
      [Cgroup::CPUSET, :cpus, "abc", Cgroup::InvalidValue],
      [Cgroup::CPUSET, :cpus, "1-0", Cgroup::InvalidValue],
      [Cgroup::CPUSET, :mems, "64", Cgroup::InvalidValue],
      [Cgroup::BLKIO, :throttle_read_bps_device, "250:250 1048576", Cgroup::NotFound],
    ]
    rows << [Cgroup::MEMORY, :swappiness, 201, Cgroup::InvalidValue] if CgroupTest.version('memory') == 1
    rows.each do |k, attr, v, error|
      next unless available?(k)
      g = k.new("#{PREFIX}/fixture")
      g.__send__("#{attr}=", v)
      e = refused(error, "#{k}##{attr} = #{v.inspect}") { g.modify }
      assert_not_nil e.errno
      assert_equal "#{PREFIX}/fixture", e.group
      assert_not_nil e.file
      assert_not_nil e.value
      if error == Cgroup::InvalidValue
        assert_not_equal v, g.__send__(attr), "#{k}##{attr}: the refused value is no longer staged"
      end
    end
  end
end

assert('string values with a newline or NUL never reach the kernel') do
  CgroupTest.isolate do
    fixtures
    ["0\n1", "0\0", "\n", "0\r", "8:0 1\n8:16 2"].each do |v|
      refused(Cgroup::InvalidValue, "cpus = #{v.inspect}") { Cgroup::CPUSET.new("#{PREFIX}/fixture").cpus = v }
      refused(Cgroup::InvalidValue, "throttle = #{v.inspect}") { Cgroup::BLKIO.new("#{PREFIX}/fixture").throttle_read_bps_device = v }
    end
    refused(TypeError, "cpus = 0") { Cgroup::CPUSET.new("#{PREFIX}/fixture").cpus = 0 }
    # BLKIO throttles take exactly "MAJ:MIN VALUE" in digits, checked before the kernel
    ["garbage", "8:0", "8:0 x", "8:0 1 2", "8:0  1", " 8:0 1", "8 1", "8:0 -1", "a:b 1", "8:0 1 "].each do |v|
      refused(Cgroup::InvalidValue, "throttle = #{v.inspect}") { Cgroup::BLKIO.new("#{PREFIX}/fixture").throttle_write_iops_device = v }
    end
    # past the kernel's u64 the kernel's %llu would wrap VALUE into another, tiny limit: refused
    # when set, naming the file and the value; up to 2**64 - 1 (leading zeros dropped) the kernel judges
    blk = Cgroup::BLKIO.new("#{PREFIX}/fixture")
    file = blk.version == 2 ? 'io.max' : 'blkio.throttle.read_bps_device'
    u64_max = "18446744073709551615" # 2**64 - 1: mruby's Integer has 64 bits
    ["8:0 18446744073709551616", "8:0 #{'9' * 20}", "8:0 018446744073709551616"].each do |huge|
      e = refused(Cgroup::InvalidValue, "throttle = #{huge}") { blk.throttle_read_bps_device = huge }
      assert_equal [huge, file], [e.value, e.file]
    end
    never = Cgroup::BLKIO.new("#{PREFIX}/never-made")
    never.throttle_read_bps_device = "8:0 000#{u64_max}"
    assert_equal "8:0 #{u64_max}", never.throttle_read_bps_device, "staged, its leading zeros dropped"
    assert_raise(Cgroup::NotFound) { never.modify } # no such group: the write's exception tells of it
  end
end

assert('attach of pid 0, -1, a huge pid, a gone pid and a zombie raises; nothing moves') do
  CgroupTest.isolate do
    g, = fixtures
    [[0, Cgroup::InvalidValue], [-1, Cgroup::InvalidValue], [1 << 40, Cgroup::InvalidValue],
     ["1", TypeError], [1.0, TypeError]].each do |pid, error|
      refused(error, "attach(#{pid.inspect})") { g.attach(pid) }
    end
    gone = CgroupTest.spawn("sleep")
    CgroupTest.kill(gone)
    CgroupTest.wait(gone)
    e = refused(Cgroup::NotFound, "attach(a pid that has exited)") { g.attach(gone) }
    assert_equal gone.to_s, e.value
    zombie = CgroupTest.zombie
    refused(Cgroup::NotFound, "attach(a zombie)") { g.attach(zombie) }
    refused(Cgroup::NotFound, "detach(a pid never attached)") { g.detach(zombie) }
  end
end

assert('attach of a zombie into "/" passes silently: the read-back finds it where it was asked to go') do
  zombie = CgroupTest.zombie
  begin
    # only where it is in the root already: the write then changes nothing on this host
    skip "the zombie is not in cpu's root here" unless CgroupTest.group_of(zombie, 'cpu') == "/"
    root = Cgroup::CPU.new("/")
    assert_equal root, root.attach(zombie)
    assert_equal "/", CgroupTest.group_of(zombie, 'cpu')
  ensure
    CgroupTest.wait(zombie)
  end
end

assert('delete of a busy group and the root raise, delete of a missing group is done; every method after delete') do
  CgroupTest.isolate do
    fixtures
    busy = Cgroup::PIDS.new("#{PREFIX}/fixture")
    pid = CgroupTest.spawn("sleep")
    busy.attach(pid)
    refused(Cgroup::Busy, "delete with a task") { busy.delete }
    busy.detach
    Cgroup::PIDS.new("#{PREFIX}/fixture/child").create
    refused(Cgroup::Busy, "delete with a child group") { busy.delete }
    missing = Cgroup::PIDS.new("#{PREFIX}/none")
    assert_equal missing, missing.delete, "delete of a missing group: nothing to do"
    assert_false missing.exist?
    CLASSES.each do |k|
      refused(Cgroup::InvalidValue, "#{k} delete of /") { k.new("/").delete } if available?(k)
    end
    gone = Cgroup::PIDS.new("#{PREFIX}/gone").create
    gone.delete
    assert_false gone.exist?
    refused(Cgroup::NotFound, "modify after delete") { gone.max = 5; gone.modify }
    refused(Cgroup::NotFound, "read after delete") { Cgroup::PIDS.new(gone.group_name).max }
    refused(Cgroup::NotFound, "stat after delete") { gone.current }
    refused(Cgroup::NotFound, "attach after delete") { gone.attach(pid) }
    assert_equal gone, gone.delete, "delete after delete is done, as runc and containerd take it"
    assert_equal 0, gone.delete_tree
    gone.max = -1
    gone.create # create again works, and writes what is staged
    assert_equal "max", CgroupTest.kernel_file('pids', gone.group_name, "pids.max").chomp
  end
end

assert('a controller that is not mounted raises Unsupported; one name in two controllers') do
  CgroupTest.isolate do
    missing = [Cgroup::IO, *CLASSES].find { |k| !available?(k) }
    if missing
      refused(Cgroup::Unsupported, "#{missing}#create") { missing.new("#{PREFIX}/x").create }
      refused(Cgroup::Unsupported, "#{missing}#exist?") { missing.new("#{PREFIX}/x").exist? }
      # the module functions name the group they looked at: the root, or the base given
      [[:groups, "/"], [:current_path], [:groups, "#{PREFIX}/x"]].each do |m, *args|
        e = refused(Cgroup::Unsupported, "Cgroup.#{m}(#{missing::CONTROLLER})") do
          Cgroup.__send__(m, missing::CONTROLLER, *args)
        end
        assert_equal [missing::CONTROLLER, args[0] || "/"], [e.controller, e.group]
      end
    else
      CgroupTest.note "every controller is available here: no unmounted one to try"
    end
    Cgroup::CPU.new("#{PREFIX}/shared").create
    mem = Cgroup::MEMORY.new("#{PREFIX}/shared")
    # v1: separate hierarchies, separate groups; v2: one directory for all
    assert_equal CgroupTest.version('memory') == 2 && CgroupTest.version('cpu') == 2, mem.exist?
  end
end

assert('objects that skipped initialize raise TypeError instead of crashing') do
  skipper = Class.new(Cgroup::CPU) { def initialize(*); end }
  [Cgroup::CPU.allocate, Cgroup::MEMORY.allocate, skipper.new("/x")].each do |o|
    %i[create modify delete attach detach exist? shares].each do |m|
      next unless o.respond_to?(m)
      refused(TypeError, "#{o.class}##{m} uninitialized") { o.__send__(m) }
    end
  end
  plain = Class.new { include Cgroup }.new
  refused(TypeError, "a plain object including Cgroup") { plain.create }
  if Cgroup::CPU.respond_to?(:instance_method) # mruby-method
    assert_raise(TypeError) { Cgroup::CPU.instance_method(:shares).bind(Cgroup::MEMORY.new("/x")).call }
  end
end

assert('read_file and write_file: bad names and values raise before any I/O; nothing changes') do
  CgroupTest.isolate do
    fixtures.each do |g|
      v2 = CgroupTest.version(g.class::CONTROLLER) == 2
      own = v2 ? "cgroup.max.depth" : "cgroup.procs" # a file of this group that may be read
      g.read_file(own)
      ["", "..", ".", "../#{own}", "#{own}/x", "/#{own}", "a\0b", "cgroup.procs\n", "Cgroup.procs",
       "cgroup procs", "cgroup.pro\tcs", "cgroup.\x7f", "x" * 256, ".cgroup.procs", "release_agent",
       "notify_on_release.x/..", "nonsense", "devices.allow", "net_cls.classid"].each do |bad|
        refused(Cgroup::InvalidValue, "#{g.class}#read_file(#{bad.inspect})") { g.read_file(bad) }
        refused(Cgroup::InvalidValue, "#{g.class}#write_file(#{bad.inspect})") { g.write_file(bad, "1") }
      end
      # a file of the other cgroup version: Unsupported, naming it
      other = v2 ? "memory.limit_in_bytes" : "memory.max"
      e = refused(Cgroup::Unsupported, "#{g.class}#read_file(#{other})") { g.read_file(other) }
      assert_equal other, e.file
      unless v2 # on v1, another controller's file is in another hierarchy
        stranger = g.class == Cgroup::CPU ? "memory.stat" : "cpu.stat"
        refused(Cgroup::InvalidValue, "#{g.class}#read_file(#{stranger}) on v1") { g.read_file(stranger) }
      end
      ["1\n", "1\n2", "a\0b", "\t1", "\e[0m", "caf\xc3\xa9", "x" * 4097].each do |bad|
        e = refused(Cgroup::InvalidValue, "#{g.class}#write_file(#{own}, #{bad[0, 20].inspect})") { g.write_file(own, bad) }
        assert_equal own, e.file
      end
      [1.5, nil, :one, [1], true].each do |bad|
        refused(TypeError, "#{g.class}#write_file(#{own}, #{bad.inspect})") { g.write_file(own, bad) }
      end
      [nil, 1, :cgroup_procs].each do |bad|
        refused(TypeError, "#{g.class}#read_file(#{bad.inspect})") { g.read_file(bad) }
      end
    end
  end
end

assert('the bad-input matrix tried its rows') do
  CgroupTest.note "bad-input rows tried in this file: #{$rows}"
  assert_true $rows > 300, "#{$rows} rows"
end
