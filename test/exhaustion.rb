# Out of descriptors (EMFILE): every call gives its result, from what the gem keeps open or
# from the kernel, or raises a Cgroup::Error carrying EMFILE; nothing is left half done, and all
# works again once descriptors are free.

PREFIX = CgroupTest.prefix
EMFILE = 24
MRUBY = TEST_ARGS['mruby_bin']

# what the call gives with no descriptor free: its result, or the Cgroup::Error it raised,
# which must be the base class with EMFILE (no class that says "missing" or "unsupported")
def starved(what)
  CgroupTest.without_fds { yield }
rescue Cgroup::Error => e
  assert_equal [Cgroup::Error, EMFILE], [e.class, e.errno], "#{what}: #{e.message}"
  e
end

# A call may succeed with no descriptor free: to open a file it may first close one the gem kept
# (the least recently used group file, the oldest /proc file), which frees a number.  Either way
# its result must be whole.
assert('with no descriptor free: attach, create, spawn, groups give a result or EMFILE') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/fds").create
    tree = %w[a b c].map { |n| Cgroup::PIDS.new("#{PREFIX}/fds/#{n}").create.group_name }
    pid = CgroupTest.spawn("sleep") # a task attach has not looked at yet
    attached = !starved("attach") { g.attach(pid) }.is_a?(Cgroup::Error)
    made = !starved("create") { Cgroup::PIDS.new("#{PREFIX}/fds/new").create }.is_a?(Cgroup::Error)
    listed = starved("Cgroup.groups") { Cgroup.groups(:pids, g.group_name) }
    spawned = starved("spawn") { g.spawn("/bin/true") }
    # no half-made group, no partial list, no task moved by a refused attach
    assert_equal made, CgroupTest.dir?(CgroupTest.group_dir('pids', "#{PREFIX}/fds/new"))
    tree << "#{PREFIX}/fds/new" if made
    assert_equal [g.group_name, *tree].sort, listed unless listed.is_a?(Cgroup::Error)
    assert_equal attached ? [pid] : [], CgroupTest.pids_in('pids', g.group_name)
    assert_true Cgroup.wait(spawned).success? unless spawned.is_a?(Cgroup::Error)
    CgroupTest.note "with no descriptor free: attach #{attached ? 'done' : 'EMFILE'}, create " \
                    "#{made ? 'done' : 'EMFILE'}, groups #{listed.is_a?(Cgroup::Error) ? 'EMFILE' : 'listed'}, " \
                    "spawn #{spawned.is_a?(Cgroup::Error) ? 'EMFILE' : 'done'}"
    # and afterwards everything works, the kept files included
    g.detach(pid) if attached
    g.attach(pid)
    assert_equal [pid], CgroupTest.pids_in('pids', g.group_name)
    g.detach(pid)
    assert_equal [g.group_name, *tree].sort, Cgroup.groups(:pids, g.group_name)
    assert_true Cgroup.wait(g.spawn("/bin/true")).success?
  end
end

assert('with no descriptor free: a kept file is written; another raises EMFILE or is written; all land after') do
  CgroupTest.isolate do
    a = Cgroup::PIDS.new("#{PREFIX}/kept-a").create
    b = Cgroup::PIDS.new("#{PREFIX}/kept-b").create
    a.max = 7
    a.modify # a's pids.max is now kept open
    a.max = 8
    b.max = 9
    assert_equal a, starved("modify through a kept file") { a.modify }
    assert_equal "8", CgroupTest.kernel_file('pids', a.group_name, "pids.max").chomp
    e = starved("modify of a file not kept") { b.modify }
    if e.is_a?(Cgroup::Error)
      assert_equal [b.group_name, "pids.max", "9"], [e.group, e.file, e.value]
      assert_equal "max", CgroupTest.kernel_file('pids', b.group_name, "pids.max").chomp, "not written"
      assert_equal 9, b.max, "still staged"
      b.modify
    end
    a.max = 10
    a.modify
    assert_equal %w[10 9], [a, b].map { |g| CgroupTest.kernel_file('pids', g.group_name, "pids.max").chomp }
  end
end

# The start of a script run under `ulimit -n 64`: every descriptor taken (files), and what the
# process's first call to the gem said (first: "Cgroup::Error 24", or the pids version).
STARVED = <<~'RUBY'
  files = []
  begin
    loop { files << File.open("/dev/null") }
  rescue
  end
  first = begin
    "#{Cgroup.version(:pids).inspect}"
  rescue Cgroup::Error => e
    "#{e.class} #{e.errno}"
  end
RUBY

assert('a process whose first call finds no descriptor free gets EMFILE, and the hierarchies on its next') do
  skip "no mruby binary at #{MRUBY}" unless CgroupTest.file?(MRUBY)
  script = STARVED + <<~'RUBY'
    files.each(&:close)
    puts first, Cgroup.version(:pids).inspect
  RUBY
  out, status, = CgroupTest.capture_as(CgroupTest.uid, "/bin/sh", "-c", 'ulimit -n 64 && exec "$0" -e "$1"', MRUBY, script)
  assert_equal 0, status, out
  assert_equal ["Cgroup::Error 24", CgroupTest.version('pids').inspect], out.split("\n")
end

# An object made while the hierarchies could not be looked at carries its controller's
# hierarchy, which the first call that finds them fills in: it works, never crashes.
assert('an object made with no descriptor free works once they are free: attach, the task in tasks') do
  skip "no mruby binary at #{MRUBY}" unless CgroupTest.file?(MRUBY)
  name = "#{PREFIX}/made-starved"
  script = STARVED + <<~'RUBY'
    g = Cgroup::PIDS.new(ARGV[0]) # made while no hierarchy could be found
    files.each(&:close)
    # the kernel's own word for this process's pids group: v1's pids line, or v2's one
    pids_line = lambda do
      lines = File.read("/proc/self/cgroup").split("\n")
      lines.find { |l| l.include?(":pids:") } || lines.find { |l| l.start_with?("0::") }
    end
    seen = nil
    g.attach { seen = pids_line.call } # its first call: this process moved in, and back
    puts first, seen, pids_line.call.end_with?(":#{ARGV[0]}"), g.tasks.size
  RUBY
  CgroupTest.isolate do
    Cgroup::PIDS.new(name).create
    out, status, = CgroupTest.capture_as(CgroupTest.uid, "/bin/sh", "-c", 'ulimit -n 64 && exec "$0" -e "$1" "$2"',
                                         MRUBY, script, name)
    assert_equal 0, status, out
    lines = out.split("\n")
    assert_equal "Cgroup::Error 24", lines[0], "the object was made with no hierarchy found"
    assert_true lines[1].end_with?(":#{name}"), lines[1]
    assert_equal %w[false 0], lines[2, 2]
  end
end

# Paths below the mount are resolved from its directory, kept open; with no descriptor free
# to open it, the whole path is used, as a plain call would: never "no such group" or
# "nothing to remove".
assert('with no descriptor free and no mount directory kept: exist? and delete_tree tell the truth') do
  CgroupTest.isolate do
    g = Cgroup::PIDS.new("#{PREFIX}/nodir").create
    Cgroup::PIDS.new("#{PREFIX}/nodir/a").create
    Cgroup.close_kept # the mount's directory is opened again at its next use
    assert_true CgroupTest.without_fds { g.exist? }, "exist? of a group that is there"
    Cgroup.close_kept
    # the walk of the subtree needs a descriptor (fts): EMFILE, and nothing removed
    assert_kind_of Cgroup::Error, starved("delete_tree") { g.delete_tree }
    assert_true CgroupTest.dir?(CgroupTest.group_dir('pids', "#{g.group_name}/a")), "still there after EMFILE"
    assert_equal 2, g.delete_tree
    assert_false CgroupTest.dir?(CgroupTest.group_dir('pids', g.group_name)), "the tree is gone"
  end
end
