# An unprivileged user (nobody, uid 65534, in a child mruby) gets
# Cgroup::PermissionDenied from create, modify, attach and delete, and
# leaves no partial state behind.

PREFIX = CgroupTest.prefix
NOBODY = 65534

SCRIPT = <<'RUBY'
klass = Cgroup.const_get(ARGV[0])
prefix = ARGV[1]
ops = {
  "create" => lambda { klass.new("#{prefix}/denied/new").create },
  "modify" => lambda { g = klass.new("#{prefix}/owned"); g.__send__("#{ARGV[2]}=", ARGV[3]); g.modify },
  "attach" => lambda { klass.new("#{prefix}/owned").attach },
  "delete" => lambda { klass.new("#{prefix}/owned").delete },
}
ops.each do |name, op|
  begin
    op.call
    puts "#{name}: no error"
  rescue => e
    puts "#{name}: #{e.class}"
  end
end
RUBY

# [class, a setting to try, a value for it (as the script passes it)]
TARGETS = [[Cgroup::CPU, :cfs_quota_us, 50000], [Cgroup::MEMORY, :limit_in_bytes, 1 << 26],
           [Cgroup::PIDS, :max, 5], [Cgroup::CPUSET, :cpus, "0"]]

# nobody runs a copy of mruby from a directory of its own: the checkout may sit
# where other users cannot traverse (/root is 0700 on Debian)
BIN_DIR = CgroupTest.scratch("bin")

# the groups under the prefix, and the tasks of the one the user tried
def state_of(klass)
  dir = "#{CgroupTest.mount(klass::CONTROLLER)}#{PREFIX}"
  tasks = CgroupTest.version(klass::CONTROLLER) == 2 ? "cgroup.procs" : "tasks"
  [CgroupTest.entries(dir).select { |e| CgroupTest.dir?("#{dir}/#{e}") }, CgroupTest.read("#{dir}/owned/#{tasks}")]
end

TARGETS.each do |klass, attr, value|
  assert("#{klass}: an unprivileged user gets PermissionDenied and changes nothing") do
    mruby = TEST_ARGS['mruby_bin']
    skip "no mruby binary at #{mruby}" unless CgroupTest.file?(mruby)
    skip "needs root to run a child as nobody (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
    skip "#{klass::CONTROLLER} is not available here" unless CgroupTest.version(klass::CONTROLLER)
    CgroupTest.isolate do
      mruby = CgroupTest.install(mruby, BIN_DIR)
      owned = klass.new("#{PREFIX}/owned").create
      v2_files = { "cpu" => "cpu.max", "memory" => "memory.max", "pids" => "pids.max", "cpuset" => "cpuset.cpus" }
      file = CgroupTest.version(klass::CONTROLLER) == 2 ? v2_files[klass::CONTROLLER] : "#{klass::CONTROLLER}.#{attr}"
      setting = "#{CgroupTest.mount(klass::CONTROLLER)}#{owned.group_name}/#{file}"
      before = [state_of(klass), CgroupTest.read(setting)]
      script = SCRIPT.sub("ARGV[3]", value.is_a?(Integer) ? "ARGV[3].to_i" : "ARGV[3]")
      out, status, signal = CgroupTest.capture_as(NOBODY, mruby, "-e", script, klass.to_s.split("::").last,
                                                  PREFIX, attr.to_s, value.to_s)
      assert_equal [0, nil], [status, signal], out
      results = out.split("\n").select { |l| %w[create modify attach delete].any? { |op| l.start_with?("#{op}: ") } }
      assert_equal %w[create modify attach delete].map { |op| "#{op}: Cgroup::PermissionDenied" }, results, out
      assert_equal before, [state_of(klass), CgroupTest.read(setting)], "nothing changed"
      assert_false CgroupTest.dir?("#{CgroupTest.mount(klass::CONTROLLER)}#{PREFIX}/denied")
    ensure
      CgroupTest.wait(CgroupTest.run("/bin/rm", "-rf", BIN_DIR))
    end
  end
end
