# The gem in a host as hostile as real servers are: signals blocked and
# ignored (an nginx worker blocks TERM and INT and ignores PIPE), a locale
# with a decimal comma (setlocale(LC_ALL, "")), a credential change after
# start-up (a capability dropped), and every descriptor closed behind the
# gem's back and the numbers taken by the program's own files.  Under all
# of it at once, the per-request path, spawn, kill_all and the PSI readers
# must give what they give in a quiet host, and write nowhere but the
# groups' files.  The host is a forked child, so the test runner keeps its
# own state.

PREFIX = CgroupTest.prefix
TERM, INT, HUP, PIPE, USR1 = 15, 2, 1, 13, 10

# What the hostile child saw, in order; nil where a part does not apply here.
def hostile_run(cpu, pids, psi, out)
  seen = []
  tid = CgroupTest.tid
  CgroupTest.with_signals([TERM, INT, USR1], [PIPE, HUP]) do
    CgroupTest.with_locale(CgroupTest.decimal_comma_locale || "C") do
      20.times { |i| cpu.cfs_quota_us = 20_000 + i; cpu.attach { } } # descriptors kept
      CgroupTest.dac_override(false) # the credential change: every kept file is opened anew
      mine = CgroupTest.daemon_fds   # and every kept number now a file of the program's
      200.times do |i|
        cpu.cfs_quota_us = 30_000 + i
        Cgroup.with(cpu, pids) { seen << CgroupTest.group_of(tid, 'cpu') } if i % 50 == 0
        Cgroup.with(cpu, pids) { } unless i % 50 == 0
      end
      seen << mine.map { |fd| CgroupTest.fd_path(fd) }.uniq
      status = Cgroup.wait(pids.spawn("/bin/sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > #{out}; yes 2>>#{out} | head -c 1 >/dev/null; exit 5"))
      seen << status.exitstatus
      sleeper = pids.spawn("sleep", "30")
      seen << pids.kill_all(:TERM, 5) << pids.wait_empty(5) << Cgroup.wait(sleeper).termsig
      if psi
        got = psi.cpu
        seen << got["some"]["avg10"].class << got["some"]["total"].class
        seen << CgroupTest.parse_as(psi, "cpu", "some avg10=1.49 avg60=0.00 avg300=0.00 total=1\n")["some"]["avg10"]
      else
        seen << Float << Integer << 1.49
      end
    end
  end
  seen
end

assert('a hostile host (signals blocked and ignored, decimal-comma locale, a capability dropped, descriptors closed and reused): per-request cycles, spawn, kill_all and PSI work as in a quiet one') do
  CgroupTest.isolate do
    cpu = Cgroup::CPU.new("#{PREFIX}/hostile").create
    pids = Cgroup::PIDS.new("#{PREFIX}/hostile").create
    psi = CgroupTest.mount('pressure') && CgroupTest.file?("#{CgroupTest.mount('pressure')}/cpu.pressure") ? Cgroup::PRESSURE.new("#{PREFIX}/hostile-psi").create : nil
    out = CgroupTest.scratch("hostile-sigs")
    report = CgroupTest.scratch("hostile-report")
    home = CgroupTest.group_of(CgroupTest.tid, 'cpu')
    pid = CgroupTest.fork
    if pid == 0
      code = 1
      begin
        CgroupTest.write(report, hostile_run(cpu, pids, psi, out).inspect)
        code = 0
      rescue Exception => e
        CgroupTest.write(report, "#{e.class}: #{e.message}") rescue nil
      end
      CgroupTest.exit!(code)
    end
    assert_equal [0, nil], CgroupTest.wait(pid), CgroupTest.read(report)
    want = [cpu.group_name] * 4 + [["/dev/null"], 5, 1, true, 15, Float, Integer, 1.49]
    assert_equal want.inspect, CgroupTest.read(report)
    sigs = CgroupTest.read(out).split("\n")
    assert_include sigs, "SigBlk:\t0000000000000000"
    assert_include sigs, "SigIgn:\t0000000000000000"
    assert_not_include sigs.join, "Broken pipe"
    quota = cpu.version == 2 ? 'cpu.max' : 'cpu.cfs_quota_us'
    assert_equal "30199", CgroupTest.kernel_file('cpu', cpu.group_name, quota).split[0], "the last quota landed"
    assert_equal home, CgroupTest.group_of(CgroupTest.tid, 'cpu'), "the runner never moved"
    CgroupTest.unlink(out)
    CgroupTest.unlink(report)
  end
end
