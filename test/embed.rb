# The embedding example (example/embed): one mrb_state, scripts compiled
# once, a request script run per simulated request.  Its requests attach and
# detach for real, a failing request is reported without stopping the host,
# and RSS and file descriptors stay flat.

PREFIX = CgroupTest.prefix
EMBED = TEST_ARGS['embed_bin']
SCRIPTS = "#{TEST_ARGS['gem_dir']}/example/embed"

# the host's summary line as words, its exit status and signal; threads: run it with -t
def embed(n, request = "#{SCRIPTS}/request.rb", threads: nil)
  CgroupTest.setenv("MRB_EMBED_GROUP", "#{PREFIX}/embed")
  args = ["-n", n.to_s] + (threads ? ["-t", threads.to_s] : [])
  out, status, signal = CgroupTest.capture_as(CgroupTest.uid, EMBED, *args, "#{SCRIPTS}/setup.rb", request,
                                              "#{SCRIPTS}/teardown.rb")
  line = out.split("\n").find { |l| l.start_with?("requests ") || l.start_with?("threads ") }
  [line.to_s.split, status, signal]
end

assert('the embed host runs 2,000 requests that attach and detach, with flat RSS and fds') do
  skip "no embed host at #{EMBED} (built by the Rakefile)" unless CgroupTest.file?(EMBED)
  CgroupTest.isolate do
    words, status, signal = embed(2000)
    assert_equal [0, nil], [status, signal]
    assert_equal %w[requests 2000 errors 0], words[0, 4]
    fds = words[words.index("fds") + 1, 2]
    assert_equal fds[0], fds[1], "open file descriptors after the first request and at the end"
    kept = words[words.index("fds_without_state") + 1, 2]
    assert_equal kept[0], kept[1], "mrb_close closes the files the gem kept open"
    rss = words[words.index("rss_kb") + 1, 3].map(&:to_i) # first request, 10 %, end
    assert_true rss[2] - rss[1] < 512, "RSS grew #{rss[2] - rss[1]} kB after the first 10 %"
    %w[cpu memory].each do |c|
      assert_false CgroupTest.dir?("#{CgroupTest.mount(c)}#{PREFIX}/embed"), "teardown removed the #{c} groups"
    end
    CgroupTest.note "embed host: #{words.join(' ')}"
  end
end

assert('a request that raises is reported, and the host goes on to the next one') do
  skip "no embed host at #{EMBED} (built by the Rakefile)" unless CgroupTest.file?(EMBED)
  failing = CgroupTest.scratch("embed-fail.rb")
  CgroupTest.isolate do
    CgroupTest.write(failing, "Cgroup::CPU.new(\"#{PREFIX}/embed/missing\").attach if $request % 2 == 1\n")
    words, status, signal = embed(10, failing)
    assert_equal [1, nil], [status, signal], "exit 1, not a crash"
    assert_equal %w[requests 10 errors 5], words[0, 4]
  ensure
    CgroupTest.unlink(failing)
  end
end

assert('4 threads, each with its own mrb_state, run per-request cycles at once and end where they began') do
  skip "no embed host at #{EMBED} (built by the Rakefile)" unless CgroupTest.file?(EMBED)
  unless CgroupTest.version('cpu') == 1 && CgroupTest.version('memory') == 1
    skip "cgroup v2 moves whole processes, so threads cannot hold groups of their own (attach.rb tests what moves)"
  end
  CgroupTest.isolate do
    words, status, signal = embed(500, threads: 4)
    assert_equal [0, nil], [status, signal], words.join(" ")
    assert_equal %w[threads 4 requests 500 errors 0 home 4], words
  end
end
