# Containers: a process in a cgroup namespace (Docker's --cgroupns=private,
# Kubernetes, LXC/Incus, systemd-nspawn) sees its container's group as "/",
# and that root is a group of the host's: it has cgroup.type, which the
# host's root lacks.  With a writable cgroup2 mount (--privileged, or a
# delegated one) Cgroup.claim does what docker-in-docker's entrypoint does:
# the container's processes into a leaf, then the controllers enabled at
# its root; then groups, limits, OOM kills and attach work in its view.
# With a read-only mount (Docker's default) writes say so and reads work.
# Each test is a forked child that enters such a container.

PREFIX = CgroupTest.prefix
MRUBY = TEST_ARGS['mruby_bin']

# Making namespaces needs root; nil when the tests can.
def host_ns_ready?
  return "needs root to make namespaces (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
  nil
end

def container_ready?
  why = host_ns_ready?
  return why if why
  missing = %w[cpu memory pids].reject { |c| CgroupTest.version(c) == 2 }
  return "#{missing.join(', ')} not on cgroup v2 here (the pure-v2 and systemd VMs run these)" unless missing.empty?
  nil
end

# A group of the host's for the container, with cpu, memory and pids
# delegated to it; the child that enters it returns what the block gives.
def in_container(name, writable, &block)
  host = Cgroup::MEMORY.new("#{PREFIX}/#{name}").create
  Cgroup::CPU.new(host.group_name).create
  Cgroup::PIDS.new(host.group_name).create
  dir = CgroupTest.group_dir('memory', host.group_name)
  [host, CgroupTest.in_child do
    CgroupTest.enter_container(CgroupTest.mount('memory'), dir, writable ? "rw" : "ro")
    Cgroup.close_kept # the kept mount directories are the host's view
    block.call
  end]
end

assert('in a container with a writable cgroup mount, claim takes its root and groups, limits, OOM kills and attach work in its view') do
  why = container_ready?
  skip why if why
  CgroupTest.isolate do
    host, got = in_container("ctr-rw", true) do
      seen = [Cgroup.current_path(:memory), CgroupTest.read("/proc/self/cgroup").strip]
      seen << Cgroup.claim(:cpu, :memory, :pids) << Cgroup.current_path(:memory)
      seen << CgroupTest.read(CgroupTest.mount('memory') + "/cgroup.subtree_control").split.sort
      req = Cgroup::MEMORY.new("/req")
      req.limit_in_bytes = 32 << 20
      req.create
      status = Cgroup.wait(req.spawn(MRUBY, "-e", "a = 'x' * (128 << 20); p a.size"))
      seen << status.oom_killed? << Cgroup.groups(:memory)
      cpu = Cgroup::CPU.new("/req")
      cpu.cfs_quota_us = 10_000
      cpu.create
      cpu.attach { seen << Cgroup.current_path(:cpu) }
      seen << Cgroup.current_path(:cpu)
    end
    want = ["/", "0::/", "/", "/main", %w[cpu memory pids], true, ["/", "/main", "/req"], "/req", "/main"]
    assert_equal "returned #{want.inspect}", got
    assert_true CgroupTest.dir?(CgroupTest.group_dir('memory', "#{host.group_name}/req")), "the host sees it below the container's group"
    assert_equal "10000 100000", CgroupTest.kernel_file('cpu', "#{host.group_name}/req", "cpu.max").strip
  end
end

assert('in a container with a read-only cgroup mount (Docker\'s default), reads work and every write says Read-only file system') do
  why = container_ready?
  skip why if why
  CgroupTest.isolate do
    host, got = in_container("ctr-ro", false) do
      seen = [Cgroup.current_path(:pids), Cgroup::PIDS.new("/").procs.size > 0]
      [-> { Cgroup.claim(:pids) }, -> { Cgroup::PIDS.new("/x").create },
       -> { g = Cgroup::PIDS.new("/"); g.write_file("pids.max", 5) }].each do |write|
        begin
          write.call
          seen << "no error"
        rescue Cgroup::PermissionDenied => e
          seen << e.message.include?("Read-only file system")
        end
      end
      seen
    end
    assert_equal "returned #{['/', true, true, true, true].inspect}", got
    assert_equal [], CgroupTest.entries(CgroupTest.group_dir('pids', host.group_name)).select { |e| e == "x" || e == "main" }, "nothing made"
  end
end

# A container whose root group was given no controller (its parent enables
# none for it: systemd-nspawn --keep-unit, say): a fresh process's first
# call says that, instead of libcgroup's "Cgroup is not mounted".
assert('in a container given no controller, the first call says none was delegated, naming the mount') do
  why = container_ready?
  skip why if why
  CgroupTest.isolate do
    Cgroup::PRESSURE.new("#{PREFIX}/bare/ctr").create # mkdir only: nothing enabled in bare
    dir = CgroupTest.group_dir('memory', "#{PREFIX}/bare/ctr")
    mount = CgroupTest.mount('memory')
    got = CgroupTest.in_child do
      CgroupTest.enter_container(mount, dir, "rw")
      script = "begin; Cgroup.claim(:cpu); print 'claimed'; rescue => e; print e.class, ': ', e.message; end"
      [CgroupTest.read("#{mount}/cgroup.controllers").strip, CgroupTest.capture_as(0, MRUBY, "-e", script)[0]]
    end
    assert_equal "returned #{['', "Cgroup::Unsupported: cpu:/: initialise libcgroup: the cgroup2 mount at " \
                 "#{mount} offers no controller here (its cgroup.controllers is empty): none was delegated to " \
                 "this container or service"].inspect}", got
  end
end

# Docker's and Podman's default on a v1 host (and --cgroupns=host on v2):
# the container keeps the host's cgroup namespace, so /proc/self/cgroup
# names its group by the host's path (/docker/ID), while its cgroup mount
# is that group, bound: field 4 of its line in /proc/self/mountinfo.  The
# gem's names are below the mount: the container's group is "/".

# The file of MEMORY's limit_in_bytes on this cgroup version.
def limit_file
  CgroupTest.version('memory') == 2 ? "memory.max" : "memory.limit_in_bytes"
end

# A child in the host group PREFIX/name, entered `how` (see
# CgroupTest.enter_container), with the gem's kept views dropped.
def in_host_ns_container(name, how, &block)
  host = Cgroup::MEMORY.new("#{PREFIX}/#{name}").create
  dir = CgroupTest.group_dir('memory', host.group_name)
  [host, CgroupTest.in_child do
    CgroupTest.enter_container(CgroupTest.mount('memory'), dir, how)
    Cgroup.close_kept # the mounts' roots and kept directories are the old view
    block.call
  end]
end

assert('in a container in the host\'s cgroup namespace with a writable mount, current_path is "/", and claim, "#{base}/req" groups and attach work below the mount') do
  why = host_ns_ready?
  skip why if why
  CgroupTest.isolate do
    host, got = in_host_ns_container("ctr-hostns-rw", "host-ns-rw") do
      seen = [CgroupTest.read("/proc/self/cgroup").include?(":#{PREFIX}/ctr-hostns-rw\n"), Cgroup.current_path(:memory)]
      seen << Cgroup::MEMORY.new(Cgroup.current_path(:memory)).procs.include?(CgroupTest.tid)
      base = Cgroup.claim(:memory)
      seen << base << Cgroup.current_path(:memory)
      req = Cgroup::MEMORY.new("#{base}/req")
      req.limit_in_bytes = 32 << 20
      req.create
      seen << req.group_name << req.attach { Cgroup.current_path(:memory) } << Cgroup.current_path(:memory)
      seen << Cgroup.groups(:memory)
      pool = Cgroup::Pool.new(base, :memory)
      seen << pool.lease { }.slot << pool.slots # slots under the base "/": "/0", not "//0"
      pool.close
      zombie = CgroupTest.zombie # v1 shows it in the root group, "/", outside this mount's root
      [-> { req.attach(zombie) }, -> { req.detach(zombie) }].each do |call|
        begin
          call.call
          seen << "no error"
        rescue Cgroup::NotFound => e
          seen << (e.message.include?("outside the cgroup mount") ? e.message : "NotFound")
        end
      end
      CgroupTest.wait(zombie)
      seen
    end
    want = [true, "/", true, "/", "/main", "/req", "/req", "/main", ["/", "/main", "/req"], "/0", ["/0"],
            "NotFound", "NotFound"]
    assert_equal "returned #{want.inspect}", got
    assert_equal (32 << 20).to_s, CgroupTest.kernel_file('memory', "#{host.group_name}/req", limit_file).strip, "the host sees the limit below the container's group"
  end
end

assert('in a container in the host\'s cgroup namespace with a read-only mount (Docker\'s default on v1), reads work and claim says Read-only file system') do
  why = host_ns_ready?
  skip why if why
  CgroupTest.isolate do
    host, got = in_host_ns_container("ctr-hostns-ro", "host-ns-ro") do
      seen = [Cgroup.current_path(:memory), Cgroup::MEMORY.new("/").procs.include?(CgroupTest.tid)]
      begin
        Cgroup.claim(:memory)
        seen << "claimed"
      rescue Cgroup::PermissionDenied => e
        seen << e.message.include?("Read-only file system")
      end
    end
    assert_equal "returned #{['/', true, true].inspect}", got
    assert_equal [], CgroupTest.entries(CgroupTest.group_dir('memory', host.group_name)).select { |e| e == "main" }, "nothing made"
  end
end

assert('in a cgroup namespace of its own with the host\'s whole tree mounted (--cgroupns=private and the host\'s /sys/fs/cgroup on v1), the gem says its group is outside the mount') do
  why = host_ns_ready?
  skip why if why
  CgroupTest.isolate do
    mount = CgroupTest.mount('memory')
    host, got = in_host_ns_container("ctr-whole", "whole-tree") do
      seen = [CgroupTest.read("/proc/self/cgroup").include?(CgroupTest.version('memory') == 2 ? "0::/\n" : ":memory:/\n")]
      [-> { Cgroup.current_path(:memory) }, -> { Cgroup.claim(:memory) }].each do |call|
        begin
          seen << call.call
        rescue Cgroup::NotFound => e
          seen << e.message.include?("outside the cgroup mount at #{mount}, whose root is /..")
        end
      end
      seen
    end
    assert_equal "returned #{[true, true, true].inspect}", got
    assert_equal [], CgroupTest.entries(CgroupTest.group_dir('memory', host.group_name)).select { |e| e == "main" }, "nothing made"
  end
end
