# Moves at a server's pace: Cgroup.favordynmods? against the kernel's own
# mount table, and the one warning a process gets when it moves again and
# again after quiet spells while the kernel makes such moves wait
# (doc/speed.md, "At a server's pace").  The moving is done by a child mruby,
# whose stderr the test reads; in the VMs (MRB_CGROUP_VM) a test remounts
# the cgroup2 mount with favordynmods and back, which no host test may do.

PREFIX = CgroupTest.prefix
WARNING = "mruby-cgroup: warning: this process moves tasks between cgroups at a server's pace"

# The cgroup and cgroup2 mounts of /proc/self/mountinfo: [point, super options]
def cgroup_mounts
  CgroupTest.read("/proc/self/mountinfo").split("\n").map do |line|
    f = line.split(" ")
    sep = f.index("-")
    [f[4], f[sep + 3].to_s.split(",")] if sep && %w[cgroup cgroup2].include?(f[sep + 1])
  end.compact
end

def favordynmods_shown?
  cgroup_mounts.any? { |_, options| options.include?("favordynmods") }
end

# whether this kernel has the option (and so makes moves wait without it)
def kernel_knows_favordynmods?
  CgroupTest.file?("/sys/kernel/cgroup/features") &&
    CgroupTest.read("/sys/kernel/cgroup/features").split("\n").include?("favordynmods")
end

# A child mruby that attaches itself to group and detaches, cycles times,
# 35 ms apart (a move 20 ms or more after the last is made after a quiet spell);
# its stdout and stderr, with the lines of the warning picked out.
def move_in_child(group, cycles, silence = false)
  mruby = TEST_ARGS['mruby_bin']
  script = <<~'RUBY'
    Cgroup.warn_moves = false if ARGV[2] == "silence"
    puts "warn_moves #{Cgroup.warn_moves}"
    g = Cgroup::CPU.new(ARGV[0])
    ARGV[1].to_i.times do
      g.attach
      g.detach
      IO.select(nil, nil, nil, 0.035)
    end
    puts "moved #{ARGV[1]}"
  RUBY
  out, status, = CgroupTest.capture_as(CgroupTest.uid, "/bin/sh", "-c", 'exec "$0" -e "$1" "$2" "$3" "$4" 2>&1',
                                       mruby, script, group, cycles.to_s, silence ? "silence" : "warn")
  assert_equal 0, status, out
  assert_include out, "moved #{cycles}"
  [out, out.split("\n").select { |l| l.start_with?("mruby-cgroup: warning:") }]
end

def skip_unless_cpu
  skip "no cpu controller here" unless Cgroup.version(:cpu)
  skip "no mruby binary at #{TEST_ARGS['mruby_bin']}" unless CgroupTest.file?(TEST_ARGS['mruby_bin'])
end

assert('Cgroup.favordynmods? is whether a cgroup mount of /proc/self/mountinfo shows favordynmods') do
  assert_equal favordynmods_shown?, Cgroup.favordynmods?
end

assert('favordynmods is read from the super options of cgroup and cgroup2 mounts only') do
  [["41 31 0:38 / /sys/fs/cgroup rw,nosuid,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,favordynmods,memory_recursiveprot\n", true],
   ["32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,favordynmods", true],
   ["32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu", false],
   ["41 31 0:38 / /sys/fs/cgroup rw,favordynmods - cgroup2 cgroup2 rw", false],       # a per-mount option: not the kernel's
   ["50 1 0:40 / /mnt rw - tmpfs favordynmods rw,favordynmods", false],               # not a cgroup mount
   ["41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,favordynmodsx,nofavordynmods", false],
   ["41 31 0:38 / /a\\040-\\040b rw - cgroup2 cgroup2 rw,favordynmods", true],          # spaces in a point are escaped
   ["41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2", false],                       # cut short
   ["41 31 0:38 / /sys/fs/cgroup rw - cgroup2", false],
   ["", false]].each do |line, shows|
    assert_equal shows, CgroupTest.mountinfo_favors?(line), line
  end
end

assert('moves at a server\'s pace without favordynmods warn once on stderr, naming the cost and the fix') do
  skip_unless_cpu
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/pace").create
    out, warnings = move_in_child(g.group_name, 25)
    if kernel_knows_favordynmods? && !favordynmods_shown?
      assert_equal 1, warnings.size, out
      assert_true warnings[0].to_s.start_with?(WARNING), out
      ["favordynmods is not in force", "RCU grace period", "mount -o remount,favordynmods",
       "cgroup_favordynmods=1", "doc/speed.md", "Cgroup.warn_moves = false"].each do |part|
        assert_include warnings[0].to_s, part
      end
    else
      assert_equal [], warnings, "favordynmods is in force here, or this kernel lacks it: #{out}"
    end
  end
end

assert('a script that attaches once and detaches after a quiet spell is not warned') do
  skip_unless_cpu
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/once").create
    out, warnings = move_in_child(g.group_name, 2) # the second attach is one move after a quiet spell
    assert_equal [], warnings, out
  end
end

assert('Cgroup.warn_moves = false silences the warning') do
  skip_unless_cpu
  skip "moves do not wait here (favordynmods in force, or a kernel without it)" unless kernel_knows_favordynmods? && !favordynmods_shown?
  CgroupTest.isolate do
    g = Cgroup::CPU.new("#{PREFIX}/quiet").create
    out, warnings = move_in_child(g.group_name, 25, true)
    assert_include out, "warn_moves false"
    assert_equal [], warnings, out
  end
end

assert('in a VM: a remount with favordynmods is seen at once, and moves at a server\'s pace then go unwarned') do
  skip "only in the VMs of tools/vm-test: it remounts the cgroup2 mount" unless %w[v1 v2].include?(CgroupTest.getenv("MRB_CGROUP_VM"))
  skip_unless_cpu
  point, options = cgroup_mounts.find { |p, _| CgroupTest.file?("#{p}/cgroup.subtree_control") }
  skip "no cgroup2 mount" unless point
  kept = (options - %w[rw favordynmods]).join(",")
  assert_false Cgroup.favordynmods?, "the VMs boot without it"
  begin
    CgroupTest.remount(point, kept.empty? ? "favordynmods" : "#{kept},favordynmods")
    assert_true Cgroup.favordynmods?
    CgroupTest.isolate do
      g = Cgroup::CPU.new("#{PREFIX}/favored").create
      out, warnings = move_in_child(g.group_name, 25)
      assert_equal [], warnings, out
    end
  ensure
    CgroupTest.remount(point, kept)
  end
  assert_false Cgroup.favordynmods?, "a remount without it turns it off"
end
