# Cgroup.scope: a transient systemd scope with Delegate=yes around a
# process, through each engine this build has; systemctl must agree.

def systemd_init?
  CgroupTest.dir?("/run/systemd/system")
end

assert('scope refuses bad unit names and pids, and says so where systemd is not PID 1') do
  [["a/b.scope", {}], ["job.service", {}], ["job.scope", { slice: "nope" }], [".scope", {}]].each do |name, opts|
    e = assert_raise(Cgroup::InvalidValue) { Cgroup.scope(name, **opts) }
    assert_include e.message, name
  end
  [0, -1, 1 << 40].each do |pid|
    e = assert_raise(Cgroup::InvalidValue) { Cgroup.scope("mrbcg-pid.scope", pid: pid) }
    assert_include e.message, "pid"
  end
  unless systemd_init?
    e = assert_raise(Cgroup::Unsupported) { Cgroup.scope("mrbcg-none.scope") }
    assert_include e.message, "systemd is not PID 1"
  end
end

Cgroup::SCOPE_ENGINES.each do |engine|
  assert("scope through #{engine}: the process is in a delegated scope that systemctl shows") do
    skip "systemd is not PID 1 here" unless systemd_init?
    skip "the system manager's scopes need root (running as uid #{CgroupTest.uid})" unless CgroupTest.uid == 0
    CgroupTest.isolate do
      pid = CgroupTest.spawn("sleep")
      name = "mrbcg-#{engine}-#{pid}.scope"
      path = Cgroup.scope(name, pid: pid, engine: engine)
      assert_equal "/system.slice/#{name}", path
      assert_equal path, CgroupTest.group_of(pid, "pids")
      out, status, = CgroupTest.capture_as(0, "/usr/bin/systemctl", "show", "-p", "Delegate,ControlGroup", name)
      assert_equal 0, status
      assert_equal ["ControlGroup=#{path}", "Delegate=yes"], out.split("\n").sort
      e = assert_raise(Cgroup::Error) { Cgroup.scope(name, pid: pid, engine: engine) }
      assert_include e.message, name
      CgroupTest.kill(pid)
      CgroupTest.wait(pid)
    end
  end
end

# the user's own manager, which a user's scopes go to (sd-bus only)
def user_manager?
  CgroupTest.dir?("/run/user/#{CgroupTest.uid}/systemd")
end

assert('scope through sd_bus for a user: a delegated scope in its user manager, as systemctl --user shows') do
  skip "systemd is not PID 1 here" unless systemd_init?
  skip "runs as a user (running as uid 0)" if CgroupTest.uid == 0
  skip "built without sd-bus" unless Cgroup::SCOPE_ENGINES.include?(:sd_bus)
  skip "no user manager runs for uid #{CgroupTest.uid} (loginctl enable-linger)" unless user_manager?
  CgroupTest.isolate do
    pid = CgroupTest.spawn("sleep")
    name = "mrbcg-user-#{pid}.scope"
    path = Cgroup.scope(name, pid: pid)
    uid = CgroupTest.uid
    assert_equal "/user.slice/user-#{uid}.slice/user@#{uid}.service/app.slice/#{name}", path
    assert_equal path, CgroupTest.group_of(pid, "pids")
    out, status, = CgroupTest.capture_as(uid, "/usr/bin/systemctl", "--user", "show", "-p",
                                         "Delegate,ControlGroup", name)
    assert_equal 0, status
    assert_equal ["ControlGroup=#{path}", "Delegate=yes"], out.split("\n").sort
    CgroupTest.kill(pid)
    CgroupTest.wait(pid)
  end
end

assert('scope for a user whose manager cannot be reached raises, naming the bus') do
  skip "systemd is not PID 1 here" unless systemd_init?
  skip "runs as a user (running as uid 0)" if CgroupTest.uid == 0
  skip "built without sd-bus" unless Cgroup::SCOPE_ENGINES.include?(:sd_bus)
  runtime = CgroupTest.getenv("XDG_RUNTIME_DIR")
  begin
    CgroupTest.setenv("XDG_RUNTIME_DIR", "/nonexistent") # where sd-bus looks for the user's bus
    e = assert_raise(Cgroup::Error) { Cgroup.scope("mrbcg-user.scope", engine: :sd_bus) }
    assert_include e.message, "user manager"
  ensure
    CgroupTest.setenv("XDG_RUNTIME_DIR", runtime || "")
  end
end

assert('the back-off between looks at a state sleeps from any start, a delay of 0 included, and grows to 16 ms') do
  delay, ms = CgroupTest.back_off(0, 5) # Cgroup.scope's wait for systemd started at 0: a busy loop
  assert_equal 16, delay
  assert_true ms >= 30, "slept #{ms} ms: 1 + 2 + 4 + 8 + 16"
  delay, ms = CgroupTest.back_off(16, 2)
  assert_equal 16, delay, "no more than 16"
  assert_true ms >= 31, "slept #{ms} ms"
end
