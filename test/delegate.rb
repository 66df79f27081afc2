# Cgroup.claim: a service takes over the subtree it was delegated.  Its
# processes move into a leaf, the controllers are enabled in the delegated
# group, and per-request groups go below it; nothing outside is written.

PREFIX = CgroupTest.prefix

def available(*names)
  names.select { |n| CgroupTest.version(n) }
end

# the groups a service in svc sits in, one object per controller
def service_groups(svc, names)
  names.map { |n| Cgroup.const_get(n.upcase).new(svc).create }
end

def tasks_file(name)
  CgroupTest.version(name) == 2 ? "cgroup.procs" : "tasks"
end

def subtree_control(name, group)
  CgroupTest.kernel_file(name, group, "cgroup.subtree_control").split
end

assert('claim moves the service into a leaf, enables its controllers, and request groups work beside it') do
  names = available("cpu", "memory", "pids")
  skip "cpu, memory and pids are not all available" unless names.size == 3
  CgroupTest.isolate do
    svc = "#{PREFIX}/svc"
    groups = service_groups(svc, names)
    worker = CgroupTest.spawn("sleep") # a worker the service forked before the claim
    groups.each { |g| g.attach(worker) }
    report = CgroupTest.scratch("claim")
    child = CgroupTest.fork
    if child == 0 # the service's master: in svc, then claims it
      code = begin
        groups.each(&:attach)
        base = Cgroup.claim(:cpu, :memory, :pids)
        again = Cgroup.claim(:cpu, :memory, :pids) # a second call, or a forked worker's
        CgroupTest.write(report, "#{base}\n#{again}\n#{Cgroup.current_path(:memory)}")
        0
      rescue => e
        CgroupTest.write(report, e.inspect)
        1
      end
      CgroupTest.exit!(code)
    end
    assert_equal [0, nil], CgroupTest.wait(child), CgroupTest.read(report)
    assert_equal [svc, svc, "#{svc}/main"], CgroupTest.read(report).split("\n")
    names.each do |n|
      assert_equal "#{svc}/main", CgroupTest.group_of(worker, n), "the worker moved (#{n})"
      assert_equal [], CgroupTest.pids_in(n, svc), "nothing is left in the delegated group (#{n})"
      assert_include subtree_control(n, svc), n if CgroupTest.version(n) == 2
    end
    request = Cgroup::MEMORY.new("#{svc}/request")
    request.limit_in_bytes = 64 << 20
    request.create
    request.attach(worker) { assert_equal "#{svc}/request", CgroupTest.group_of(worker, "memory") }
    assert_equal "#{svc}/main", CgroupTest.group_of(worker, "memory"), "back in the leaf"
  ensure
    CgroupTest.unlink(report) if report && CgroupTest.file?(report)
  end
end

assert('on cgroup v2, a group that holds processes cannot enable memory for children: why claim exists') do
  skip "memory is not on cgroup v2 here" unless CgroupTest.version("memory") == 2
  CgroupTest.isolate do
    svc = Cgroup::PIDS.new("#{PREFIX}/busy").create
    worker = CgroupTest.spawn("sleep")
    svc.attach(worker)
    e = assert_raise(Cgroup::Busy) { Cgroup::MEMORY.new("#{PREFIX}/busy/request").create }
    assert_equal ["#{PREFIX}/busy", "cgroup.subtree_control", "+memory"], [e.group, e.file, e.value]
    assert_false CgroupTest.dir?(CgroupTest.group_dir("memory", "#{PREFIX}/busy/request"))
  end
end

assert('claim refuses a bad leaf, an unknown controller and one not delegated, before changing anything') do
  skip "pids is not available" unless CgroupTest.version("pids")
  CgroupTest.isolate do
    svc = "#{PREFIX}/refuse"
    groups = service_groups(svc, ["pids"])
    worker = CgroupTest.spawn("sleep")
    groups.each { |g| g.attach(worker) }
    refusals = [[Cgroup::InvalidValue, lambda { Cgroup.claim(:pids, leaf: "a/b") }],
                [Cgroup::InvalidValue, lambda { Cgroup.claim(:pids, leaf: "..") }],
                [ArgumentError, lambda { Cgroup.claim(:nonesuch) }],
                [ArgumentError, lambda { Cgroup.claim }]]
    # on v2 the parent enabled only pids for svc: memory is not delegated to it
    refusals << [Cgroup::Unsupported, lambda { Cgroup.claim(:pids, :memory) }] if CgroupTest.version("memory") == 2
    report = CgroupTest.scratch("refuse")
    child = CgroupTest.fork
    if child == 0
      groups.each(&:attach)
      got = refusals.map do |cls, op|
        begin
          op.call
          "no error"
        rescue => e
          e.class == cls ? "ok" : "#{e.class}: #{e.message}"
        end
      end
      CgroupTest.write(report, got.join("\n"))
      CgroupTest.exit!(0)
    end
    assert_equal [0, nil], CgroupTest.wait(child)
    assert_equal ["ok"] * refusals.size, CgroupTest.read(report).split("\n")
    assert_equal [], CgroupTest.entries(CgroupTest.group_dir("pids", svc)).select { |e|
      CgroupTest.dir?("#{CgroupTest.group_dir('pids', svc)}/#{e}")
    }, "no leaf was made"
    assert_equal svc, CgroupTest.group_of(worker, "pids"), "the worker did not move"
  ensure
    CgroupTest.unlink(report) if report && CgroupTest.file?(report)
  end
end

assert('claim refuses a process in the root group: nothing was delegated to it') do
  skip "pids is not available" unless CgroupTest.version("pids")
  skip "needs root to put a child in the root group (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  CgroupTest.isolate do
    leaf_before = CgroupTest.dir?(CgroupTest.group_dir("pids", "/main"))
    report = CgroupTest.scratch("root-claim")
    child = CgroupTest.fork
    if child == 0
      got = begin
        Cgroup::PIDS.new("/").attach
        Cgroup.claim(:pids)
        "no error"
      rescue => e
        "#{e.class} #{e.group} #{Cgroup.current_path(:pids)}"
      end
      CgroupTest.write(report, got)
      CgroupTest.exit!(0)
    end
    assert_equal [0, nil], CgroupTest.wait(child)
    assert_equal "Cgroup::InvalidValue / /", CgroupTest.read(report)
    assert_equal leaf_before, CgroupTest.dir?(CgroupTest.group_dir("pids", "/main")), "no leaf made at the root"
  ensure
    CgroupTest.unlink(report) if report && CgroupTest.file?(report)
  end
end

NOBODY = 65534

# What nobody runs inside its delegated group: claim, a request group with
# limits, then two writes outside the subtree that must be refused.
NOBODY_SCRIPT = <<'RUBY'
def try
  yield
  "no error"
rescue => e
  "#{e.class} #{e.group} #{e.file}"
end
base = Cgroup.claim(:memory, :pids)
puts "base #{base}"
puts "in #{Cgroup.current_path(:pids)}"
pids = Cgroup::PIDS.new("#{base}/request")
pids.max = 4
pids.create
mem = Cgroup::MEMORY.new("#{base}/request")
mem.limit_in_bytes = 32 << 20
mem.create
mem.attach { pids.attach { puts "request #{Cgroup.current_path(:memory)} #{Cgroup.current_path(:pids)}" } }
puts "back #{Cgroup.current_path(:memory)}"
parent = base[0, base.rindex("/")]
puts "sibling #{try { Cgroup::PIDS.new("#{parent}/intruder").create }}"
own = Cgroup::PIDS.new(base)
own.max = 7
puts "own #{try { own.modify }}"
RUBY

# the files systemd hands to a delegated service's user (v2), or v1's equivalents
def delegate_to(uid, names, group)
  names.each do |n|
    dir = CgroupTest.group_dir(n, group)
    files = CgroupTest.version(n) == 2 ? %w[cgroup.procs cgroup.subtree_control cgroup.threads] : %w[tasks cgroup.procs]
    ([dir] + files.map { |f| "#{dir}/#{f}" }).each { |path| CgroupTest.chown(path, uid, uid) }
  end
end

assert('nobody claims a subtree chowned to it, limits a request inside, and is refused outside it') do
  mruby = TEST_ARGS['mruby_bin']
  skip "no mruby binary at #{mruby}" unless CgroupTest.file?(mruby)
  skip "needs root to hand a subtree to nobody (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  names = available("memory", "pids")
  skip "memory and pids are not both available" unless names.size == 2
  bin = CgroupTest.scratch("bin")
  CgroupTest.isolate do
    mruby = CgroupTest.install(mruby, bin)
    svc = "#{PREFIX}/deleg/svc"
    service_groups(svc, names)
    delegate_to(NOBODY, names, svc)
    before = CgroupTest.kernel_file("pids", svc, "pids.max")
    procs = names.map { |n| "#{CgroupTest.group_dir(n, svc)}/#{tasks_file(n)}" }.uniq.join(":")
    out, status, signal = CgroupTest.capture_in(procs, NOBODY, mruby, "-e", NOBODY_SCRIPT)
    assert_equal [0, nil], [status, signal], out
    lines = out.split("\n")
    assert_equal ["base #{svc}", "in #{svc}/main"], lines[0, 2]
    assert_equal "request #{svc}/request #{svc}/request", lines[2]
    assert_equal "back #{svc}/main", lines[3]
    assert_equal "sibling Cgroup::PermissionDenied #{PREFIX}/deleg/intruder ", lines[4]
    assert_equal "own Cgroup::PermissionDenied #{svc} pids.max", lines[5]
    assert_equal "4", CgroupTest.kernel_file("pids", "#{svc}/request", "pids.max").strip, "the request's limit"
    assert_equal before, CgroupTest.kernel_file("pids", svc, "pids.max"), "the delegated group's own limit"
    assert_false CgroupTest.dir?(CgroupTest.group_dir("pids", "#{PREFIX}/deleg/intruder"))
    names.each { |n| assert_include subtree_control(n, svc), n if CgroupTest.version(n) == 2 }
  ensure
    CgroupTest.wait(CgroupTest.run("/bin/rm", "-rf", bin))
  end
end

assert('example/service.rb: a delegated service limits and accounts its requests, and ends in its leaf') do
  mruby = TEST_ARGS['mruby_bin']
  skip "no mruby binary at #{mruby}" unless CgroupTest.file?(mruby)
  names = available("cpu", "memory")
  skip "cpu and memory are not both available" unless names.size == 2
  owner = CgroupTest.uid == 0 ? NOBODY : CgroupTest.uid # a user of its own, like a service's User=
  bin = CgroupTest.scratch("bin-service")
  CgroupTest.isolate do
    mruby = CgroupTest.install(mruby, bin)
    script = CgroupTest.read("#{TEST_ARGS['gem_dir']}/example/service.rb")
    svc = "#{PREFIX}/service"
    service_groups(svc, names)
    delegate_to(owner, names, svc) if CgroupTest.uid == 0
    procs = names.map { |n| "#{CgroupTest.group_dir(n, svc)}/#{tasks_file(n)}" }.uniq.join(":")
    out, status, signal = CgroupTest.capture_in(procs, owner, mruby, "-e", script, "3")
    assert_equal [0, nil], [status, signal], out
    lines = out.split("\n")
    assert_equal "claimed #{svc}; this process is in #{svc}/main", lines[0]
    3.times { |i| assert_equal "request #{i}: ran in #{svc}/request, back in #{svc}/main", lines[i + 1] }
    assert_equal "request 3: peak >= 8 MiB in #{svc}/lease/0", lines[4]
    assert_equal "4 of 4 back in #{svc}/main", lines[5]
    names.each do |n|
      %w[request lease].each do |g|
        assert_false CgroupTest.dir?(CgroupTest.group_dir(n, "#{svc}/#{g}")), "it removed its #{n} group #{g}"
      end
    end
  ensure
    CgroupTest.wait(CgroupTest.run("/bin/rm", "-rf", bin))
  end
end

assert('delegate: a root master hands a subtree to nobody, moves in, and its worker works inside it') do
  skip "needs root to hand a subtree over (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  names = available("cpu", "memory", "pids")
  skip "cpu, memory and pids are not all available" unless names.size == 3
  CgroupTest.isolate do
    base = "#{PREFIX}/handed"
    report = CgroupTest.scratch("delegate")
    CgroupTest.write(report, "")
    CgroupTest.chmod(report, 0o666) # the child writes it as nobody, /tmp may not let it create one
    child = CgroupTest.fork
    if child == 0 # the master: root until it has delegated, then its worker's user
      got = begin
        given = Cgroup.delegate(base, to: NOBODY, controllers: [:cpu, :memory, :pids])
        home = Cgroup.current_path(:memory)
        CgroupTest.become(NOBODY)
        request = Cgroup::PIDS.new("#{given}/request")
        request.max = 5
        request.create
        inside = request.attach { Cgroup.current_path(:pids) }
        own = Cgroup::PIDS.new(given)
        own.max = 7
        refused = begin
          own.modify
          "no error"
        rescue Cgroup::Error => e
          e.class.to_s
        end
        [given, home, inside, Cgroup.current_path(:pids), refused].join("\n")
      rescue => e
        e.inspect
      end
      begin
        CgroupTest.write(report, got)
      ensure
        CgroupTest.exit!(0) # never back into the test runner
      end
    end
    assert_equal [0, nil], CgroupTest.wait(child)
    assert_equal [base, "#{base}/main", "#{base}/request", "#{base}/main", "Cgroup::PermissionDenied"],
                 CgroupTest.read(report).split("\n")
    names.each do |n|
      dir = CgroupTest.group_dir(n, base)
      handed = CgroupTest.version(n) == 2 ? %w[cgroup.procs cgroup.subtree_control cgroup.threads] : %w[tasks cgroup.procs]
      ([dir, "#{dir}/main"] + handed.map { |f| "#{dir}/#{f}" }).each do |path|
        assert_equal NOBODY, CgroupTest.owner(path), path
      end
    end
    assert_equal 0, CgroupTest.owner("#{CgroupTest.group_dir('pids', base)}/pids.max"), "its own limit stays root's"
    assert_equal "5", CgroupTest.kernel_file("pids", "#{base}/request", "pids.max").strip
  ensure
    CgroupTest.unlink(report) if report && CgroupTest.file?(report)
  end
end

assert('delegate refuses an unknown user and the root, and leaves nothing behind') do
  skip "needs root to hand a subtree over (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  skip "pids is not available" unless CgroupTest.version("pids")
  CgroupTest.isolate do
    base = "#{PREFIX}/refused"
    assert_raise(ArgumentError) { Cgroup.delegate(base, to: "no-such-user-here", controllers: [:pids]) }
    assert_raise(Cgroup::InvalidValue) { Cgroup.delegate("/", to: NOBODY, controllers: [:pids]) }
    assert_raise(Cgroup::InvalidValue) { Cgroup.delegate(base, to: NOBODY, controllers: [:pids], leaf: "a/b") }
    assert_raise(ArgumentError) { Cgroup.delegate(base, to: NOBODY, controllers: []) }
    assert_false CgroupTest.dir?(CgroupTest.group_dir("pids", base))
  end
end
