# MEMORY's actions: reclaim (v2, 5.19) and the peak since a reset (v1's
# max_usage_in_bytes, for the whole group; v2's memory.peak per descriptor,
# 6.12), each shown against what children really allocate.

PREFIX = CgroupTest.prefix
MiB = 1 << 20

def v2?
  CgroupTest.version('memory') == 2
end

# a child that touches `bytes` in the group, frees them and exits
def allocate_in(group, bytes)
  assert_equal [0, nil], CgroupTest.wait(CgroupTest.start_in(group, "alloc", bytes))
end

assert('a Peak tracker sees the highest usage since its reset, not before it') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/peak")
    g.limit_in_bytes = 256 * MiB
    g.create
    allocate_in(g, 48 * MiB)
    before = g.max_usage_in_bytes
    assert_true before >= 48 * MiB, "the group's peak after 48 MiB: #{before}"
    begin
      tracker = g.peak_tracker
    rescue Cgroup::Unsupported => e
      assert_true v2?, "v1's max_usage_in_bytes can always be reset"
      assert_equal "memory.peak", e.file
      skip "this kernel cannot reset memory.peak (6.12): #{e.message}"
    end
    assert_true tracker.peak < 48 * MiB, "reset: below the 48 MiB of before (#{tracker.peak})"
    allocate_in(g, 16 * MiB)
    seen = tracker.peak
    assert_true seen >= 16 * MiB && seen < 48 * MiB, "the 16 MiB since (#{seen})"
    if v2?
      assert_true g.peak >= 48 * MiB, "v2: the group's own peak is untouched (#{g.peak})"
      assert_true g.peak_tracker.peak < 16 * MiB, "a new tracker starts afresh"
    else
      assert_equal CgroupTest.kernel_file('memory', g.group_name, 'memory.max_usage_in_bytes').to_i, seen,
                   "v1: the group's one counter, reset for everyone"
    end
    tracker.reset
    assert_true tracker.peak < 16 * MiB
    assert_include tracker.inspect, g.group_name
    tracker.close
    assert_true tracker.closed?
    assert_raise(Cgroup::Error) { tracker.peak }
  end
end

assert('MEMORY#reclaim shrinks a group\'s page cache (v2); anonymous memory without swap stays') do
  CgroupTest.isolate do
    g = Cgroup::MEMORY.new("#{PREFIX}/reclaim").create
    unless v2?
      e = assert_raise(Cgroup::Unsupported) { g.reclaim(MiB) }
      assert_equal "memory.reclaim", e.file
      skip "memory.reclaim is cgroup v2 only"
    end
    assert_raise(ArgumentError) { g.reclaim(0) }
    assert_raise(ArgumentError) { g.reclaim(-1) }
    assert_false g.reclaim(MiB), "an empty group has nothing to give"
    # page cache charged to the group: a file written from inside it, on a
    # disk file system where one is (the trixie VM's /var/tmp; elsewhere
    # /tmp may be tmpfs, whose pages only swap could take)
    dir = CgroupTest.dir?("/var/tmp") ? "/var/tmp" : "/tmp"
    file = "#{dir}/mrbcg-reclaim-#{CgroupTest.uid}-#{g.group_name.split('/').last}"
    status = Cgroup.wait(g.spawn("/bin/sh", "-c", "dd if=/dev/zero of=#{file} bs=1M count=32 2>/dev/null && sync"))
    assert_true status.success?
    stat = g.raw_stat
    cache = stat["file"] - stat["shmem"].to_i - stat["unevictable"].to_i # ramfs, tmpfs: not reclaimable
    if cache < 16 * MiB
      assert_false g.reclaim(16 * MiB), "no reclaimable page cache (#{dir} is in memory here)"
      CgroupTest.note "reclaim: #{dir} keeps its pages in memory here; shown only to refuse"
    else
      assert_true g.reclaim(16 * MiB), "16 MiB of clean page cache reclaimed"
      after = g.raw_stat["file"]
      assert_true after <= stat["file"] - 16 * MiB, "file: #{stat['file']} -> #{after}"
    end
  ensure
    CgroupTest.unlink(file) if file
  end
end
