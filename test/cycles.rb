# 10,000 per-request cycles in one mrb_state: new, set, modify, attach,
# detach.  The classic gem wrapped one C context in a new Data object per
# call and crashed near 1,000 cycles; this must end cleanly.

PREFIX = CgroupTest.prefix

assert('10,000 per-request cycles (CPU on the calling thread, MEMORY on a helper) run clean') do
  begin
    Cgroup::CPU.new("#{PREFIX}/req").create
    Cgroup::MEMORY.new("#{PREFIX}/req").create
    helper = CgroupTest.spawn("sleep")
    tasks = %w[cpu memory].map do |c|
      "#{CgroupTest.mount(c)}#{PREFIX}/req/#{CgroupTest.version(c) == 2 ? 'cgroup.procs' : 'tasks'}"
    end
    started = CgroupTest.now
    10_000.times do |i|
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
      GC.start if i % 1000 == 999
    end
    elapsed = CgroupTest.now - started
    assert_equal 10_000 + 9_999 % 90_000, Cgroup::CPU.new("#{PREFIX}/req").cfs_quota_us
    assert_equal ["", ""], tasks.map { |t| CgroupTest.read(t).chomp }, "the runner and the helper went back"
    assert_equal CgroupTest.group_of(helper, 'memory'), CgroupTest.group_of(CgroupTest.tid, 'memory')
    # a figure for the report, not an assertion: these machines are shared
    CgroupTest.note "10,000 cycles: #{(elapsed * 1000).round} ms, peak RSS #{CgroupTest.peak_rss_kb} kB"
  ensure
    CgroupTest.cleanup
  end
end
