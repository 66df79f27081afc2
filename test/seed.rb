# The script the project began from (example/memory.rb), run by the built
# mruby in a child process, ends in an OOM kill inside its group.

PREFIX = CgroupTest.prefix

assert('example/memory.rb ends with SIGKILL from the OOM killer inside /test') do
  mruby = TEST_ARGS['mruby_bin']
  skip "no mruby binary at #{mruby}" unless CgroupTest.file?(mruby)
  seed = CgroupTest.read("#{TEST_ARGS['gem_dir']}/example/memory.rb")
  # the same script, with its group moved under this run's prefix
  script = CgroupTest.scratch("seed.rb")
  group = "#{PREFIX}/test"
  CgroupTest.isolate do
    CgroupTest.write(script, seed.gsub('"/test"', group.inspect))
    pid = CgroupTest.run(mruby, script)
    assert_equal [nil, 9], CgroupTest.wait(pid)
    counters = CgroupTest.version('memory') == 2 ? 'memory.events' : 'memory.oom_control'
    oom = CgroupTest.kernel_file('memory', group, counters)
    kills = oom.split("\n").find { |l| l.start_with?("oom_kill ") }.split[1].to_i
    assert_true kills >= 1, "the kill happened in #{group}"
  ensure
    CgroupTest.unlink(script)
  end
end

assert('example/demo.rb (what make demo runs) sees its spawned child OOM-killed, on this cgroup version') do
  mruby = TEST_ARGS['mruby_bin']
  skip "no mruby binary at #{mruby}" unless CgroupTest.file?(mruby)
  out = CgroupTest.scratch("demo.out")
  CgroupTest.isolate do
    pid = CgroupTest.run("/bin/sh", "-c", "#{mruby} #{TEST_ARGS['gem_dir']}/example/demo.rb #{mruby} #{PREFIX}/demo > #{out} 2>&1")
    status = CgroupTest.wait(pid)
    text = CgroupTest.read(out)
    assert_equal [0, nil], status, text
    assert_include text, "(OOM killed)"
    assert_include text, "OK: the kernel's OOM killer stopped the child inside #{PREFIX}/demo"
    assert_false CgroupTest.dir?("#{CgroupTest.mount('memory')}#{PREFIX}/demo"), "the demo removed its group"
  ensure
    CgroupTest.unlink(out) if CgroupTest.file?(out)
  end
end
