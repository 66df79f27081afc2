# Several processes on the same group names at once, two of them deleting and making the groups
# again under the others: only the documented classes NotFound and Busy may appear, every worker
# ends in the groups it started in, and nothing is left behind.

PREFIX = CgroupTest.prefix
WORKERS = 8
CYCLES = 2000

# One worker's cycles (in a forked child): make the shared group unless it exists, set a value,
# modify, attach the calling thread, detach; workers 0 and 1 also delete the group every third cycle.
# Writes "class count" lines and "home true|false" to report.
def work(id, report)
  groups = [Cgroup::CPU.new("#{PREFIX}/shared"), Cgroup::PIDS.new("#{PREFIX}/shared")]
  tid = CgroupTest.tid
  home = %w[cpu pids].map { |c| CgroupTest.group_of(tid, c) }
  counts = Hash.new(0)
  CYCLES.times do |i|
    g = groups[i % 2]
    begin
      g.delete if id < 2 && i % 3 == 0 && g.exist?
      g.create unless g.exist?
      g.is_a?(Cgroup::PIDS) ? g.max = 100 + i : g.shares = 512 + i
      g.modify
      g.attach
      g.detach
      counts["ok"] += 1
    rescue => e
      counts[e.class.to_s] += 1
      g.detach rescue nil # back home if attach got that far
    end
  end
  back = %w[cpu pids].map { |c| CgroupTest.group_of(tid, c) } == home
  CgroupTest.write(report, counts.map { |k, n| "#{k} #{n}" }.join("\n") + "\nhome #{back}\n")
end

assert("#{WORKERS} processes x #{CYCLES} cycles on shared groups, removed under them: only NotFound and Busy") do
  skip "cpu or pids is not available" unless CgroupTest.version('cpu') && CgroupTest.version('pids')
  CgroupTest.isolate do
    reports = (0...WORKERS).map { |id| CgroupTest.scratch("conc-#{id}") }
    children = (0...WORKERS).map do |id|
      child = CgroupTest.fork
      if child == 0
        work(id, reports[id])
        CgroupTest.exit!(0)
      end
      child
    end
    assert_equal [[0, nil]] * WORKERS, children.map { |c| CgroupTest.wait(c) }, "every worker ended cleanly"
    totals = Hash.new(0)
    reports.each do |report|
      lines = CgroupTest.read(report).split("\n")
      CgroupTest.unlink(report)
      assert_equal "home true", lines.pop, "#{report}: the worker ended in the groups it started in"
      lines.each { |l| k, n = l.split; totals[k] += n.to_i }
    end
    CgroupTest.note "concurrent cycles: #{totals.inspect}"
    assert_equal WORKERS * CYCLES, totals.values.inject(0) { |a, b| a + b }
    assert_equal [], totals.keys - %w[ok Cgroup::NotFound Cgroup::Busy], totals.inspect
    assert_true totals["ok"] > 0
  end
end

assert('a child forked while another thread takes the gem\'s attach lock can take it too (the lock is reset at fork)') do
  stuck = CgroupTest.forks_stuck(CgroupTest.emulated? ? 20 : 60)
  assert_equal 0, stuck, "children that hung on the lock"
end
