# tools/ngx-test's second half: runs the built nginx with example/ngx_mruby
# under ab and one paced client, and checks it from outside, through /proc
# and the cgroup files.
#   ruby tools/ngx-run.rb path/to/nginx example/ngx_mruby ngx_mruby-commit
require 'fileutils'
require_relative 'server_probe'

NGINX, EXAMPLE, COMMIT = ARGV
RUN = "/tmp/mrbcg-ngx-#{Process.pid}"
BASE = ENV['MRB_NGX_BASE'] || "/mrbcg-ngx-#{Process.pid}" # in a delegated service: below its group
PORT = 20_000 + Process.pid % 10_000
CONCURRENCY = 16
# /plain, then the gem's handlers that the example has a script for (its
# nginx.conf gives each its location): a handler added there is added here
LOCATIONS = %w[plain cpu cpumem account shared].select { |l| File.exist?("#{EXAMPLE}/#{l}.rb") }.freeze
PACED = (ENV['MRB_NGX_PACED'] || '40').to_i # requests of each location in each rhythm, in tens

def master
  File.read("#{RUN}/nginx.pid").to_i
end

def workers
  children_of_pid(master).select { |pid| (File.read("/proc/#{pid}/stat") rescue '').include?('(nginx)') }
end

def error_log
  File.exist?("#{RUN}/error.log") ? File.read("#{RUN}/error.log") : ''
end

# ---- load

# /account's body carries the request's peak memory, whose digits vary
def ab_at(location, n, concurrency = CONCURRENCY, keepalive: true)
  ab("http://127.0.0.1:#{PORT}/#{location}", n, concurrency, keepalive: keepalive,
                                                             varying_length: location == 'account')
end

def all_home(when_)
  ws = workers
  check("2 workers #{when_}", ws.size == 2, ws.inspect)
  worker_groups_checked(BASE, ws, %w[cpu memory], when_, 'worker')
  left = tasks_in("#{BASE}/request", 'cpu') # the shared group (/shared and the async examples)
  check("no task left in the shared request group #{when_}", left.empty?, left.inspect)
  extra = children_of(BASE, 'memory') - %w[main request worker]
  check("no per-request group left #{when_}", extra.empty?, extra.inspect)
end

# ---- the run

FileUtils.mkdir_p(["#{RUN}/tmp", "#{RUN}/logs"]) # logs: where nginx writes before it reads the config
File.chmod(0o755, RUN)
FileUtils.chown('nobody', 'nogroup', "#{RUN}/tmp")
Dir["#{EXAMPLE}/*.rb"].each do |f|
  text = File.read(f).sub('BASE = "/ngx-mruby"', "BASE = #{BASE.inspect}")
  File.write("#{RUN}/#{File.basename(f)}", text)
end
File.write("#{RUN}/nginx.conf", File.read("#{EXAMPLE}/nginx.conf").gsub('@RUN@', RUN).gsub('@PORT@', PORT.to_s))
Dir["#{RUN}/*"].each { |f| File.chmod(0o644, f) if File.file?(f) }

begin
  system(NGINX, '-p', RUN, '-c', "#{RUN}/nginx.conf", err: "#{RUN}/signal.log") or abort "ngx-test: nginx did not start:\n#{error_log}"
  # a worker shows in /proc as soon as it is forked, and becomes nobody a moment later
  50.times do
    break if File.exist?("#{RUN}/nginx.pid") && workers.size == 2 &&
             workers.all? { |w| (File.stat("/proc/#{w}").uid rescue 0) == 65_534 }

    sleep 0.1
  end
  check('the master is root and in the delegated leaf', group_of(master, 'memory') == "#{BASE}/main",
        group_of(master, 'memory'))
  check('the workers run as nobody', workers.all? { |w| File.stat("/proc/#{w}").uid == 65_534 }, workers.inspect)
  all_home('at start')

  # warm-up of every handler, the failing ones too
  LOCATIONS.each { |l| ab_at(l, 2000) }
  %w[raise async async_inside async_held].each { |l| ab_at(l, 200, keepalive: false) }
  account_answer_checked(http_get(PORT, 'account'), 'nginx')
  fds_before = workers.to_h { |w| [w, idle_fds(w)] }

  rounds = (ENV['MRB_NGX_ROUNDS'] || '3').to_i
  n = (ENV['MRB_NGX_REQUESTS'] || '20000').to_i
  results = Hash.new { |h, k| h[k] = [] }
  total = 0
  rounds.times do # the locations take turns, so drift hits them alike
    LOCATIONS.each do |l|
      r = ab_at(l, n)
      total += r[:complete]
      check("#{l}: #{n} requests, none failed", r[:complete] == n && r[:failed].zero? && r[:non2xx].zero?,
            r[:out].lines.grep(/Complete|Failed|Non-2xx|Length:/).join.strip)
      results[l] << r[:rps]
    end
    all_home('after a round of load')
    puts "worker RSS after round #{results['plain'].size}: #{workers.map { |w| "#{rss_kb(w)} kB" }.join(', ')}"
  end

  # one client's latencies, a request every 100 ms and back to back (server_probe.rb)
  paced = paced_latencies(PORT, LOCATIONS, PACED, 'nginx')
  all_home('after the paced requests')

  # Each of the gem's handlers alone, after the rounds above: its worker's
  # RSS and descriptors before and after 60,000 more requests.  (While the
  # handlers take turns, RSS moves up and down by hundreds of kB with the
  # mix, plain's included: malloc's heap, not the gem's objects.)
  soak = (ENV['MRB_NGX_SOAK'] || '60000').to_i
  (LOCATIONS - %w[plain]).each do |l|
    before = workers.to_h { |w| [w, [rss_kb(w), idle_fds(w)]] }
    r = ab_at(l, soak)
    check("#{l}: #{soak} more requests, none failed", r[:complete] == soak && r[:failed].zero? && r[:non2xx].zero?)
    before.each do |w, (rss, fd)|
      now_rss, now_fd = rss_kb(w), idle_fds(w)
      check("/#{l} alone: worker #{w} RSS flat (#{rss} -> #{now_rss} kB)", now_rss - rss < 256)
      check("/#{l} alone: worker #{w} descriptors flat (#{fd} -> #{now_fd})", now_fd == fd)
    end
  end

  # the failing and async handlers on fresh connections, as a browser would
  r = ab_at('raise', 200, keepalive: false)
  check('/raise: every request answered 500', r[:complete] == 200 && r[:non2xx] == 200, r[:non2xx])
  check('/raise: the error is in error.log', error_log.include?('request failed on purpose'))
  r = ab_at('async', 500, keepalive: false)
  check('/async (yields outside the block): every request answered 200', r[:complete] == 500 && r[:non2xx].zero?,
        r[:non2xx])
  r = ab_at('async_inside', 100, keepalive: false)
  check('/async_inside (yields inside the block): every request answered 500', r[:complete] == 100 && r[:non2xx] == 100,
        r[:non2xx])
  check('/async_inside: error.log names the fiber switch', error_log.include?('(Cgroup::FiberSwitch)'))
  r = ab_at('async_held', 2000, keepalive: false)
  check('/async_held (attached across the wait, interleaved): every request answered 200',
        r[:complete] == 2000 && r[:failed].zero? && r[:non2xx].zero?, r[:non2xx])
  all_home('after the raising and async handlers')

  fds_before.each do |w, fd|
    now = idle_fds(w)
    check("worker #{w}: descriptors flat over everything (#{fd} -> #{now})", now == fd)
  end

  # reloads close idle keep-alive connections; /account's new workers take over the old ones' slots
  loaders = %w[cpumem account].map { |l| [l, Thread.new { ab_at(l, 20_000, keepalive: false) }] }
  old = nil
  3.times do
    sleep 1
    old = workers
    system(NGINX, '-p', RUN, '-c', "#{RUN}/nginx.conf", '-s', 'reload', err: "#{RUN}/signal.log") or
      check('nginx -s reload', false, File.read("#{RUN}/signal.log"))
  end
  loaders.each do |l, loader|
    r = loader.value
    check("/#{l}: three reloads under load: none of 20000 requests failed",
          r[:complete] == 20_000 && r[:failed].zero? && r[:non2xx].zero?,
          r[:out].lines.grep(/Complete|Failed|Non-2xx|Length:/).join)
  end
  # the workers of before the last reload finish their connections and exit
  100.times { break if workers.size == 2 && (workers & old).empty?; sleep 0.1 }
  all_home('after three reloads')

  expected = ['request failed on purpose', '(Cgroup::FiberSwitch)']
  bad = error_log.lines.grep(/\[(error|crit|alert|emerg)\]/).reject { |l| expected.any? { |e| l.include?(e) } }
  check('error.log has no other error', bad.empty?, bad.first(5).join)

  plain = median(results['plain'])
  puts
  puts "ngx_mruby #{COMMIT}, #{workers.size} workers as nobody, ab -c #{CONCURRENCY}, #{rounds} rounds of " \
       "#{n} requests per location (#{total} in all, keep-alive), median:"
  puts format('%-10s %12s %18s %10s', 'location', 'requests/s', 'added us/request', 'of plain')
  LOCATIONS.each do |l|
    rps = median(results[l])
    puts format('%-10s %12.0f %18.1f %9.2fx', "/#{l}", rps, (1.0 / rps - 1.0 / plain) * 1e6, rps / plain)
  end
  puts
  paced_report(paced) if paced
ensure
  pid = File.exist?("#{RUN}/nginx.pid") ? master : nil
  if pid
    system(NGINX, '-p', RUN, '-c', "#{RUN}/nginx.conf", '-s', 'quit', err: File::NULL)
    100.times { break unless File.exist?("/proc/#{pid}"); sleep 0.1 }
    Process.kill(:KILL, pid) rescue nil
  end
  remove_groups(BASE)
  FileUtils.cp("#{RUN}/error.log", ENV['MRB_NGX_LOG'] || File.join(__dir__, '..', '.cache', 'ngx', 'error.log')) rescue nil
  FileUtils.rm_rf(RUN)
end

puts "ngx: #{$passed} passed, #{$failed.size} failed, 0 skipped"
exit($failed.empty? ? 0 : 1)
