# tools/apache-test's second half: runs Apache with mod_mruby and
# example/mod_mruby under ab, once per MPM (prefork with mod_cgi, event with
# mod_cgid), and checks it from outside, through /proc and the cgroup files:
# the parent is root and in the delegated leaf, the children run as
# www-data; no failed request; every child thread back in its home group
# after each load and no task left in a request group; child RSS and
# descriptors flat; every request of the paced client (server_probe.rb)
# answered 200 with its body; /raise answered 500 with its error logged;
# CGIs born in their virtual host's group (mod_cgi) or, with mod_cgid, in
# its daemon's (the daemon forks them, not the request); the heavy host
# throttled; three graceful restarts under load, with a plain handler
# under the same load as the reference for the server's own failures;
# error.log without other errors.  On v2 the event MPM's groups are
# threaded (THREADED_MPM in child_init.rb): a request moves its thread, not
# the whole child.
#   ruby tools/apache-run.rb path/to/apache2 path/to/mod_mruby.so example/mod_mruby commit
require 'etc'
require 'fileutils'
require_relative 'server_probe'

APACHE, MOD_MRUBY, EXAMPLE, COMMIT = ARGV
CONCURRENCY = 16
MPMS = (ENV['MRB_APACHE_MPMS'] || 'prefork event').split
ROUNDS = (ENV['MRB_APACHE_ROUNDS'] || '3').to_i
REQUESTS = (ENV['MRB_APACHE_REQUESTS'] || '10000').to_i
SOAK = (ENV['MRB_APACHE_SOAK'] || '30000').to_i
PACED = (ENV['MRB_APACHE_PACED'] || '40').to_i # requests of each location in each rhythm, in tens
# /plain, then the gem's handlers that the example has a script for (its
# httpd.conf gives each its <Location>): a handler added there is added here
LOCATIONS = %w[plain cpu cpumem account shared].select { |l| File.exist?("#{EXAMPLE}/#{l}.rb") }.freeze
# those an MPM cannot run: on v2 a threaded MPM's children have no
# Cgroup::Worker (child_init.rb moves their requests' threads instead), so
# no /account there; /cpumem then limits the CPU alone.  Under a threaded
# MPM on v1 /account would count the child's other threads too (its group
# holds all of them): not run there either.
NOT_CPU_ONLY = %w[account].freeze
NOT_THREADED = %w[account].freeze
# /raise's own, and prefork saying that every child is busy (ab keeps all 16)
EXPECTED_ERRORS = ['raise.rb: RuntimeError: request failed on purpose',
                   'AH00161: server reached MaxRequestWorkers setting'].freeze
HOSTS = { 'heavy.example' => 'vhost-heavy.example', 'light.example' => 'vhost-light.example' }.freeze

# the test's own location: the child's pid and its live mruby objects
# after a full GC (full-core's ObjectSpace)
OBJECTS_LOCATION = "<Location /objects>\n  mrubyHandlerMiddle @RUN@/objects.rb cache\n</Location>\n"
OBJECTS_SCRIPT = <<~RUBY
  GC.start
  counts = ObjectSpace.count_objects
  Apache.rputs "\#{File.open('/proc/self/stat') { |f| f.read.split[0] }} \#{counts[:TOTAL] - counts[:FREE]}"
RUBY

# One server: its directory, port, group and MPM.
class Server
  attr_reader :mpm, :run, :base, :port

  def initialize(mpm)
    @mpm = mpm
    @run = "/tmp/mrbcg-apache-#{Process.pid}-#{mpm}"
    @base = "#{ENV['MRB_APACHE_BASE'] || "/mrbcg-apache-#{Process.pid}"}-#{mpm}"
    @port = 20_000 + (Process.pid + mpm.size) % 10_000
  end

  def threaded?
    mpm != 'prefork'
  end

  # v2 moves whole processes unless the group is threaded, and memory cannot
  # follow threads: the event MPM's requests have a CPU group only there
  def cpu_only?
    threaded? && V2['cpu']
  end

  def locations
    return LOCATIONS - NOT_CPU_ONLY if cpu_only?

    threaded? ? LOCATIONS - NOT_THREADED : LOCATIONS
  end

  def conf
    "#{run}/httpd.conf"
  end

  def write_files
    FileUtils.mkdir_p(["#{run}/htdocs", "#{run}/cgi-bin"])
    File.chmod(0o755, run)
    Dir["#{EXAMPLE}/*.rb"].each do |f|
      next if File.basename(f) == 'build_config.rb'

      text = File.read(f).sub('BASE = "/mod-mruby"', "BASE = #{base.inspect}")
      text = text.sub('THREADED_MPM = false', 'THREADED_MPM = true') if threaded?
      File.write("#{run}/#{File.basename(f)}", text)
    end
    FileUtils.cp("#{EXAMPLE}/cgi-bin/where.cgi", "#{run}/cgi-bin/where.cgi")
    File.write(conf, File.read("#{EXAMPLE}/httpd.conf").gsub('@RUN@', run).gsub('@PORT@', port.to_s)
                        .gsub('@MPM@', mpm).gsub('@CGI@', threaded? ? 'cgid' : 'cgi').gsub('@MOD_MRUBY@', MOD_MRUBY) +
                     OBJECTS_LOCATION.gsub('@RUN@', run))
    File.write("#{run}/objects.rb", OBJECTS_SCRIPT)
    FileUtils.chmod_R('a+rX', run)
  end

  def apachectl(action)
    system(APACHE, '-f', conf, '-k', action, err: "#{run}/signal.log", out: "#{run}/signal.log") or
      check("apache2 -k #{action}", false, File.read("#{run}/signal.log"))
  end

  def parent
    File.read("#{run}/httpd.pid").to_i
  rescue Errno::ENOENT
    nil
  end

  # the children that serve requests: www-data's apache2 processes below the
  # parent, without mod_cgid's daemon (one thread; the event children have
  # ThreadsPerChild and their listener)
  def children
    children_of_pid(parent).select do |pid|
      File.stat("/proc/#{pid}").uid != 0 && (!threaded? || Dir.children("/proc/#{pid}/task").size > 1)
    end
  rescue Errno::ENOENT
    []
  end

  def expected_children
    threaded? ? 2 : 16
  end

  # After a restart: the old generation finishes its connections and exits,
  # the new one starts its threads.  Wait (15 s at most) until the same
  # children, as many as configured, are seen twice half a second apart.
  def settle
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 15
    seen = nil
    until Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      now = children
      break if now.size == expected_children && now == seen

      seen = now
      sleep 0.5
    end
  end

  def error_log
    File.exist?("#{run}/error.log") ? File.read("#{run}/error.log") : ''
  end

  # each child's live mruby objects after a full GC: /objects, asked until
  # every child has answered (a request goes to whichever child accepts it)
  def live_objects
    want = children
    seen = held_objects(want.size)
    400.times do
      break if (want - seen.keys).empty?

      pid, live = get(self, 'objects').split.map(&:to_i)
      seen[pid] = live
    end
    seen
  end

  # /objects from as many children at once: a prefork child takes one
  # connection and waits on it for the request, so connections opened
  # together and asked once all are taken each reach a child of their own
  # (one after another, the accept mutex may keep handing them to a few:
  # a child of 16 once went unasked in 400)
  def held_objects(n)
    sockets = Array.new(n) { TCPSocket.new('127.0.0.1', port) }
    sleep 0.5
    sockets.each { |s| s.write("GET /objects HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n") }
    sockets.each_with_object({}) do |s, seen|
      pid, live = s.read.split("\r\n\r\n", 2)[1].to_s.split.map(&:to_i)
      seen[pid] = live if pid
    end
  ensure
    sockets&.each(&:close)
  end

  def url(path)
    "http://127.0.0.1:#{port}/#{path}"
  end

  def load(location, n, keepalive: true)
    ab(url(location), n, CONCURRENCY, keepalive: keepalive, varying_length: location == 'account')
  end

  def controllers
    cpu_only? ? %w[cpu] : %w[cpu memory]
  end

  # where child_init.rb makes its groups: threaded ones below the leaf
  def groups
    cpu_only? ? "#{base}/main" : base
  end

  # every thread of every child (and of mod_cgid's daemon) in BASE/main,
  # nobody left in the request and vhost groups, no per-request group left
  def all_home(when_)
    ws = children
    check("#{mpm}: #{expected_children} children #{when_}", ws.size == expected_children,
          children_of_pid(parent).map { |p| "#{p}: #{Dir.children("/proc/#{p}/task").size} threads" }.join(', '))
    # the children in their own groups (Cgroup::Worker), mod_cgid's daemon
    # (and a threaded MPM's children on v2, which move threads) in BASE/main
    at_main = cpu_only? ? children_of_pid(parent) : children_of_pid(parent) - ws
    worker_groups_checked(base, ws, controllers, "#{mpm} #{when_}", "#{mpm}: child") unless cpu_only?
    at_main.each do |w|
      controllers.each do |c|
        away = Dir.children("/proc/#{w}/task").map { |t| group_of(w, c, "/proc/#{w}/task/#{t}") }
                  .reject { |g| g == "#{base}/main" }
        check("#{mpm}: child #{w} at home in #{c} #{when_}", away.empty?, away.uniq.inspect)
      end
    end
    (['request'] + HOSTS.values).each do |g| # the shared groups: CPU only
      left = threads_in("#{groups}/#{g}", 'cpu')
      check("#{mpm}: no task left in the cpu group #{g} #{when_}", left.empty?, left.inspect)
    end
    extra = children_of(base, 'cpu') - %w[main request worker] - HOSTS.values
    extra += children_of(groups, 'cpu') - %w[request] - HOSTS.values if cpu_only?
    check("#{mpm}: no per-request group left #{when_}", extra.empty?, extra.inspect)
  end

  def start
    write_files
    apachectl('start')
    50.times { break if parent; sleep 0.1 }
    abort "apache-test: #{mpm}: Apache did not start:\n#{error_log}" unless parent
    settle
    %w[cpu memory].each do |c|
      check("#{mpm}: the parent is root and in the delegated leaf (#{c})",
            File.stat("/proc/#{parent}").uid.zero? && group_of(parent, c) == "#{base}/main", group_of(parent, c))
    end
    check("#{mpm}: the children run as www-data",
          children.all? { |w| File.stat("/proc/#{w}").uid == Etc.getpwnam('www-data').uid }, children.inspect)
    all_home('at start')
  end

  def stop
    pid = parent
    return unless pid

    apachectl('stop')
    100.times { break unless File.exist?("/proc/#{pid}"); sleep 0.1 }
    Process.kill(:KILL, pid) rescue nil
  end
end

def get(server, path, host: '127.0.0.1')
  http_get(server.port, path, host: host)
end

def cpu_stat(group, key)
  File.read("#{MOUNTS['cpu']}#{group}/cpu.stat")[/^#{key} (\d+)/, 1].to_i
end

# the per-request limits: rounds of load, the locations taking turns
def per_request(server, results)
  server.locations.each { |l| server.load(l, 1000) } # warm-up
  account_answer_checked(get(server, 'account'), server.mpm) if server.locations.include?('account')
  ROUNDS.times do
    server.locations.each do |l|
      r = server.load(l, REQUESTS)
      check("#{server.mpm} /#{l}: #{REQUESTS} requests, none failed",
            r[:complete] == REQUESTS && r[:failed].zero? && r[:non2xx].zero?, ab_summary(r))
      results[[server.mpm, l]] << r[:rps]
    end
    server.all_home('after a round of load')
  end
end

# Each of the gem's handlers alone, over SOAK more requests: every child's
# live mruby objects (counted after a full GC by the test's own /objects
# location) the same before and after, its RSS grown no more than 256 kB
# beyond the most /plain grew a child over as many requests just before,
# and its descriptors flat.  RSS alone cannot judge: an event child's
# creeps with no gem in it (+500 kB over 150,000 /plain here, as its 32
# threads' malloc arenas grow), and a prefork child's steps by 52 kB as
# mruby's heap pages come and go while its live objects stay put.  Each
# handler first runs SOAK unmeasured, so that every child and thread has
# served it.
def soak(server)
  (server.locations - %w[plain]).each do |l|
    server.load(l, SOAK)
    allowed = growth(server, 'plain').values.map(&:first).max + 256
    objects = server.live_objects
    grown = growth(server, l)
    after = server.live_objects
    grown.each do |w, (rss, fd)|
      check("#{server.mpm} /#{l} alone: child #{w} RSS grew #{rss} kB (at most #{allowed})", rss <= allowed)
      check("#{server.mpm} /#{l} alone: child #{w} descriptors flat (#{fd})", fd.zero?)
      check("#{server.mpm} /#{l} alone: child #{w} live objects flat (#{objects[w]} -> #{after[w]})",
            objects[w] && objects[w] == after[w])
    end
  end
end

# each child's RSS growth (kB) and descriptor change over SOAK requests of
# a location, none of which may fail
def growth(server, location)
  before = server.children.to_h { |w| [w, [rss_kb(w), idle_fds(w)]] }
  r = server.load(location, SOAK)
  check("#{server.mpm} /#{location}: #{SOAK} more requests, none failed",
        r[:complete] == SOAK && r[:failed].zero? && r[:non2xx].zero?, ab_summary(r))
  before.to_h { |w, (rss, fd)| [w, [rss_kb(w) - rss, idle_fds(w) - fd]] }
end

# A request's task while it runs under /cpu's group: its thread in the
# request group, and no other task of any child there with it (on v2 under
# event: the thread alone, not its child; prefork's children have one)
def request_thread(server)
  5.times do
    count, *lines = get(server, 'where').lines.map(&:strip)
    cpu_line = lines.find { |l| V2['cpu'] ? l.start_with?('0::') : l.split(':')[1].to_s.split(',').include?('cpu') }
    group = cpu_line.to_s.split(':', 3)[2]
    check("#{server.mpm}: a request's thread is in #{server.groups}/request while it runs (#{group})",
          group == "#{server.groups}/request")
    check("#{server.mpm}: and alone there (#{count} task)", count == '1')
  end
end

# mod_mruby reads a handler's status from a global after it releases its
# lock, so under a threaded MPM a request can answer with another's status
# (a /raise answered 200): there one request at a time, and the count at 16
# is printed
def raising(server)
  if server.threaded?
    r = server.load('raise', 200, keepalive: false)
    puts "#{server.mpm}: /raise at -c 16: #{r[:non2xx]} of 200 answered 500 (mod_mruby's status race)"
  end
  r = ab(server.url('raise'), 200, server.threaded? ? 1 : CONCURRENCY, keepalive: false)
  check("#{server.mpm} /raise: every request answered 500", r[:complete] == 200 && r[:non2xx] == 200, r[:non2xx])
  check("#{server.mpm} /raise: the error is in error.log", server.error_log.include?(EXPECTED_ERRORS[0]))
  server.all_home('after /raise')
end

# The classic per-vhost pattern: where each host's CGI was born, and the
# heavy host's quota throttling its CGIs under load.  mod_cgi forks the CGI
# from the request's task; mod_cgid's daemon forks it, so it is born where
# the daemon is (BASE/main: it was forked by the parent in its leaf).  A
# host without a group of its own: mod_cgi's CGI is born where the child
# lives, its Cgroup::Worker group (BASE/worker/N).
def vhosts(server)
  HOSTS.each do |host, group|
    body = get(server, 'cgi-bin/where.cgi', host: host)
    want = server.threaded? ? "#{server.base}/main" : "#{server.groups}/#{group}"
    check("#{server.mpm}: #{host}'s CGI born in #{want}", body == want, body)
  end
  body = get(server, 'cgi-bin/where.cgi')
  home = server.threaded? ? "#{server.base}/main" : %r{\A#{Regexp.escape(server.base)}/worker/\d+\z}
  check("#{server.mpm}: another host's CGI born in the child's group", home === body, body)
  heavy = "#{server.groups}/#{HOSTS['heavy.example']}"
  throttled = cpu_stat(heavy, 'nr_throttled')
  # each CGI uses 20 ms of CPU time, twice the host's quota of 10 ms a
  # 100 ms period, so its group is throttled however loaded the machine
  # (a spin of the clock's time may get less than the quota on a busy one)
  r = ab(server.url('cgi-bin/where.cgi?ms=20'), 8, 4, headers: ['Host: heavy.example'])
  check("#{server.mpm}: 8 CGI requests to heavy.example answered", r[:complete] == 8 && r[:non2xx].zero?,
        ab_summary(r))
  now = cpu_stat(heavy, 'nr_throttled')
  # (under mod_cgid the request threads alone are in the host's group)
  unless server.threaded?
    check("#{server.mpm}: heavy.example's CGIs throttled by its quota (nr_throttled #{throttled} -> #{now})",
          now > throttled)
  end
  server.all_home('after the CGIs')
end

# Three graceful restarts under load, on fresh connections (a restart closes
# idle keep-alive ones): first the plain handler, the reference for the
# server's own failures, then /cpu and /account (new children take over the
# old ones' pool slots).  post_config.rb runs again each time.
def graceful(server)
  gem_locations = %w[cpu account] & server.locations
  failures = (['plain'] + gem_locations).to_h do |l|
    loader = Thread.new { server.load(l, 10_000, keepalive: false) }
    3.times do
      sleep 0.5
      server.apachectl('graceful')
    end
    r = loader.value
    check("#{server.mpm}: /#{l} under three graceful restarts: all 10000 answered", r[:complete] == 10_000,
          ab_summary(r))
    [l, r[:failed] + r[:non2xx]]
  end
  puts "#{server.mpm}: failed requests under three graceful restarts: " +
       failures.map { |l, n| "/#{l} #{n}" }.join(', ')
  gem_locations.each do |l|
    check("#{server.mpm}: /#{l} fails no more often than /plain under graceful restarts (#{failures[l]} vs " \
          "#{failures['plain']})", failures[l] <= failures['plain'] + 10)
  end
  server.settle
  server.all_home('after three graceful restarts')
end

# one client's latencies, a request every 100 ms and back to back (server_probe.rb)
def paced(server)
  times = paced_latencies(server.port, server.locations, PACED, server.mpm)
  server.all_home('after the paced requests')
  times
end

results = Hash.new { |h, k| h[k] = [] }
paced_times = {}
servers = []
begin
  MPMS.each do |mpm|
    server = Server.new(mpm)
    servers << server
    server.start
    per_request(server, results)
    paced_times[mpm] = paced(server)
    soak(server)
    request_thread(server)
    raising(server)
    vhosts(server)
    graceful(server)
    bad = server.error_log.lines.grep(/\[[a-z_:]*(error|crit|alert|emerg)\]/)
                .reject { |l| EXPECTED_ERRORS.any? { |e| l.include?(e) } }
    check("#{mpm}: error.log has no other error", bad.empty?, bad.first(5).join)
    server.stop
    remove_groups(server.base)
  end
  puts
  puts "mod_mruby #{COMMIT}, ab -c #{CONCURRENCY}, #{ROUNDS} rounds of #{REQUESTS} requests per location " \
       '(keep-alive), median:'
  puts format('%-8s %-9s %12s %18s %10s', 'MPM', 'location', 'requests/s', 'added us/request', 'of plain')
  servers.each do |server|
    plain = median(results[[server.mpm, 'plain']])
    server.locations.each do |l|
      rps = median(results[[server.mpm, l]])
      puts format('%-8s %-9s %12.0f %18.1f %9.2fx', server.mpm, "/#{l}", rps, (1.0 / rps - 1.0 / plain) * 1e6,
                  rps / plain)
    end
  end
  puts
  paced_times.each { |mpm, times| paced_report(times, "#{mpm}: ") if times }
ensure
  servers.each do |server|
    server.stop
    remove_groups(server.base) if File.directory?("#{MOUNTS['cpu']}#{server.base}")
    FileUtils.cp(server.error_log == '' ? File::NULL : "#{server.run}/error.log",
                 File.join(ENV['MRB_APACHE_LOGS'] || File.join(__dir__, '..', '.cache', 'apache'),
                           "error-#{server.mpm}.log")) rescue nil
    FileUtils.rm_rf(server.run)
  end
end

puts "apache: #{$passed} passed, #{$failed.size} failed, 0 skipped"
exit($failed.empty? ? 0 : 1)
