# The per-request cycle, as web servers run it, in one mrb_state: new, set,
# modify, attach, detach, for CPU (the calling thread) and MEMORY (a helper
# child; the test runner never leaves its memory group), with GC.start now
# and then.  100,000 cycles by default (MRB_CGROUP_SOAK_CYCLES to change; the
# VMs, under software emulation, run 10,000).  The classic gem wrapped one C
# context in a new Data object per call and crashed near 1,000 cycles; here
# the run ends cleanly and RSS and open file descriptors stay flat.  The
# same for leased requests of a Cgroup::Pool (mrblib/pool.rb).

PREFIX = CgroupTest.prefix
CYCLES = (CgroupTest.getenv("MRB_CGROUP_SOAK_CYCLES") || "100000").to_i

# Run the block CYCLES times (with the cycle's number), GC.start now and
# then; assert that descriptors (and RSS, unless a memory checker holds freed
# memory) stay flat from a tenth of the way to the end, and note the figures.
def soak(what)
  warm = CYCLES / 10
  rss_warm = fds_warm = nil
  started = CgroupTest.now
  CYCLES.times do |i|
    yield i
    GC.start if i % 1000 == 999
    if i == warm
      GC.start
      rss_warm, fds_warm = CgroupTest.rss_kb, CgroupTest.fd_count
    end
  end
  elapsed = CgroupTest.now - started
  GC.start
  rss_end, fds_end = CgroupTest.rss_kb, CgroupTest.fd_count
  assert_equal fds_warm, fds_end, "open file descriptors"
  if CgroupTest.getenv("MRB_CGROUP_SOAK_RSS") == "0"
    CgroupTest.note "RSS not checked: memory checkers (ASan's quarantine, valgrind) hold freed memory"
  else
    assert_true rss_end - rss_warm < 1024, "RSS grew #{rss_end - rss_warm} kB"
  end
  # figures for the report, not assertions: these machines are shared
  CgroupTest.note "#{CYCLES} #{what}: #{(elapsed * 1000).round} ms (#{(elapsed * 1e6 / CYCLES).round} us each); " \
                  "RSS #{rss_warm} kB after #{warm}, #{rss_end} kB at the end (peak #{CgroupTest.peak_rss_kb} kB); " \
                  "fds #{fds_warm} -> #{fds_end}"
end

assert("#{CYCLES} per-request cycles keep RSS and file descriptors flat") do
  CgroupTest.isolate do
    Cgroup::CPU.new("#{PREFIX}/req").create
    Cgroup::MEMORY.new("#{PREFIX}/req").create
    helper = CgroupTest.spawn("sleep")
    tasks = %w[cpu memory].map do |c|
      "#{CgroupTest.mount(c)}#{PREFIX}/req/#{CgroupTest.version(c) == 2 ? 'cgroup.procs' : 'tasks'}"
    end
    soak("cycles") do |i|
      cpu = Cgroup::CPU.new("#{PREFIX}/req")
      cpu.cfs_quota_us = 10_000 + i % 90_000
      cpu.modify
      cpu.attach
      cpu.detach
      mem = Cgroup::MEMORY.new("#{PREFIX}/req")
      mem.limit_in_bytes = (64 << 20) + (i % 16) * 4096
      mem.modify
      mem.attach(helper)
      mem.detach
    end
    assert_equal 10_000 + (CYCLES - 1) % 90_000, Cgroup::CPU.new("#{PREFIX}/req").cfs_quota_us
    assert_equal ["", ""], tasks.map { |t| CgroupTest.read(t).chomp }, "the runner and the helper went back"
    assert_equal CgroupTest.group_of(helper, 'memory'), CgroupTest.group_of(CgroupTest.tid, 'memory')
  end
end

assert("#{CYCLES} leased requests (Cgroup::Pool) keep RSS and file descriptors flat, in one slot") do
  controllers = %w[cpuacct memory pids].select { |c| CgroupTest.version(c == 'cpuacct' ? 'cpu' : c) }
  skip "memory is not available" unless controllers.include?('memory')
  CgroupTest.isolate do
    pool = Cgroup::Pool.new("#{PREFIX}/lease", *controllers)
    helper = CgroupTest.spawn("sleep")
    home = CgroupTest.group_of(helper, 'memory')
    slots = {}
    soak("leases") { slots[pool.lease(helper) {}.slot] = true }
    assert_equal home, CgroupTest.group_of(helper, 'memory'), "the helper went back"
    assert_equal 1, slots.size, "every lease had the same slot: #{slots.keys}"
    pool.close
  end
end
