# What tools/ngx-run.rb and tools/apache-run.rb share: the checks' tally,
# the kernel's view of a server's processes read without the gem (through
# /proc and the cgroup files), ab and a single GET.
require 'socket'

$passed = 0
$failed = []

def check(what, ok, detail = nil)
  if ok
    $passed += 1
  else
    $failed << what
    puts "FAIL: #{what}#{detail ? ": #{detail}" : ''}"
  end
end

def cgroup_mounts
  File.readlines('/proc/self/mountinfo').filter_map do |line|
    fields = line.split
    sep = fields.index('-')
    [fields[4], fields[sep + 1], fields[sep + 3].split(',')] if sep && fields[sep + 1] =~ /\Acgroup2?\z/
  end
end

def mount_of(controller)
  v1 = cgroup_mounts.find { |_, type, opts| type == 'cgroup' && opts.include?(controller) }
  return v1[0] if v1

  v2 = cgroup_mounts.find do |dir, type, _|
    type == 'cgroup2' && File.read("#{dir}/cgroup.controllers").split.include?(controller)
  end
  v2 && v2[0]
end

# cpuacct: v1's own hierarchy, else the cpu controller's (v2, or mounted with cpu)
MOUNTS = { 'cpu' => mount_of('cpu'), 'memory' => mount_of('memory'),
           'cpuacct' => mount_of('cpuacct') || mount_of('cpu') }.freeze
V2 = MOUNTS.transform_values { |m| cgroup_mounts.any? { |dir, type, _| dir == m && type == 'cgroup2' } }

# the group of a process, or of a thread (/proc/PID/task/TID)
def group_of(pid, controller, proc_dir = "/proc/#{pid}")
  File.readlines("#{proc_dir}/cgroup").each do |line|
    _, names, path = line.chomp.split(':', 3)
    return path if V2[controller] ? names.empty? : names.split(',').include?(controller)
  end
  nil
end

def tasks_in(group, controller)
  File.read("#{MOUNTS[controller]}#{group}/cgroup.procs").split.map(&:to_i)
end

# thread ids: v1's tasks, v2's cgroup.threads (also in a threaded group)
def threads_in(group, controller)
  File.read("#{MOUNTS[controller]}#{group}/#{V2[controller] ? 'cgroup.threads' : 'tasks'}").split.map(&:to_i)
end

def children_of(group, controller)
  Dir.children("#{MOUNTS[controller]}#{group}").select { |e| File.directory?("#{MOUNTS[controller]}#{group}/#{e}") }
end

# Cgroup::Worker's groups below base/worker (example/*/: the per-request
# locations write their limits there): each worker process in a group of
# its own, every thread of it, the same in each controller; no other process
# in one; and its limits at rest, the requests' quota and memory limit
# restored.  The groups of workers that exited stay, empty, for the next.
def worker_groups_checked(base, pids, controllers, when_, label)
  seen = {}
  pids.each do |w|
    homes = controllers.flat_map do |c|
      Dir.children("/proc/#{w}/task").map { |t| group_of(w, c, "/proc/#{w}/task/#{t}") }
    end.uniq
    own = homes.size == 1 && homes[0].match?(%r{\A#{Regexp.escape(base)}/worker/\d+\z}) && !seen[homes[0]]
    check("#{label} #{w}: every thread in a worker group of its own (#{controllers.join(', ')}) #{when_}", own,
          homes.inspect)
    seen[homes[0]] = w
  end
  controllers.each do |c|
    next unless File.directory?("#{MOUNTS[c]}#{base}/worker")

    children_of("#{base}/worker", c).each do |g|
      group = "#{base}/worker/#{g}"
      strangers = tasks_in(group, c) - [seen[group]]
      check("no other process in #{c} #{group} #{when_}", strangers.empty?, strangers.inspect)
    end
  end
  seen.each_key { |group| worker_limits_at_rest(group, controllers, when_) }
end

def worker_limits_at_rest(group, controllers, when_)
  quota = File.read("#{MOUNTS['cpu']}#{group}/#{V2['cpu'] ? 'cpu.max' : 'cpu.cfs_quota_us'}").split[0]
  check("no quota in #{group} between requests #{when_}", %w[-1 max].include?(quota), quota)
  return unless controllers.include?('memory')

  limit = File.read("#{MOUNTS['memory']}#{group}/#{V2['memory'] ? 'memory.max' : 'memory.limit_in_bytes'}").strip
  check("no memory limit in #{group} between requests #{when_}", limit == 'max' || limit.to_i > 1 << 62, limit)
end

# one GET on a fresh connection to the server at 127.0.0.1:port: the body
def http_get(port, path, host: '127.0.0.1')
  TCPSocket.open('127.0.0.1', port) do |s|
    s.write("GET /#{path} HTTP/1.0\r\nHost: #{host}\r\n\r\n")
    s.read.split("\r\n\r\n", 2)[1].to_s.strip
  end
end

# what a location of the examples answers: "ok", and /account the
# request's memory peak and CPU time after it
def expected_body?(location, body)
  location == 'account' ? body.match?(/\Aok \d+ \d+\z/) : body == 'ok'
end

def account_answer_checked(body, what)
  check("#{what}: /account answers with the request's memory peak and CPU time (#{body.inspect})",
        expected_body?('account', body))
end

def now_us
  Process.clock_gettime(Process::CLOCK_MONOTONIC, :float_microsecond)
end

# One HTTP/1.1 connection kept alive from request to request, as a browser
# or a proxy keeps one.  A response says where it ends (Content-Length, or
# chunked); should the server close the connection, the next request opens
# a new one before its clock starts (counted in reopened).
class KeepAliveClient
  attr_reader :reopened

  def initialize(port)
    @port = port
    @socket = nil
    @reopened = -1 # the first opening is not a reopening
  end

  # one GET: [status, body, microseconds from its first byte sent to its
  # answer's last byte received]
  def get(path)
    open unless @socket
    start = now_us
    @socket.write("GET /#{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers = read_head
    body = read_body(headers)
    took = now_us - start
    close if headers['connection'] == 'close' || !headers['content-length'] && !headers['transfer-encoding']
    [status, body, took]
  end

  def close
    @socket&.close
    @socket = nil
  end

  private

  def open
    @socket = TCPSocket.new('127.0.0.1', @port)
    @socket.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
    @reopened += 1
  end

  def line
    @socket.gets("\r\n") or raise EOFError, 'the server closed the connection'
  end

  def read_head
    status = line.split[1].to_i
    headers = {}
    until (l = line) == "\r\n"
      name, value = l.split(':', 2)
      headers[name.downcase] = value.strip.downcase
    end
    [status, headers]
  end

  def read_body(headers)
    return @socket.read(headers['content-length'].to_i) if headers['content-length']
    return @socket.read unless headers['transfer-encoding'] == 'chunked'

    body = +''
    while (size = line.to_i(16)).positive?
      body << @socket.read(size)
      line # the chunk's CRLF
    end
    nil until line == "\r\n" # trailers
    body
  end
end

# The two rhythms of the paced phase, with the pause before each request
PACED_INTERVAL = 0.1
RHYTHMS = { 'at a request every 100 ms' => PACED_INTERVAL, 'back to back' => 0 }.freeze

# A single client's view of the handlers: one keep-alive connection, the
# locations taking turns (plain, cpu, ..., plain, cpu, ...), each request's
# latency timed.  The rhythms alternate in blocks of 10 rotations, so that
# drift in the machine's load hits both alike: a request every 100 ms, as
# a lightly used server sees them, then the same rotation with no gap.
# Every answer must be 200 with the location's body.  Returns
# { rhythm => { location => [microseconds, ...] } }, count of each.
def paced_latencies(port, locations, count, what)
  client = KeepAliveClient.new(port)
  locations.each { |l| client.get(l) } # the connection's first requests, untimed
  times = RHYTHMS.keys.to_h { |r| [r, Hash.new { |h, l| h[l] = [] }] }
  bad = Hash.new { |h, l| h[l] = [] }
  last = now_us
  ((count + 9) / 10).times do
    RHYTHMS.each do |rhythm, pause|
      10.times do
        locations.each do |l|
          wait = pause - (now_us - last) / 1e6 # from the start of the request before
          sleep wait if wait.positive?
          last = now_us
          status, body, took = client.get(l)
          times[rhythm][l] << took
          bad[l] << "#{status} #{body.inspect}" unless status == 200 && expected_body?(l, body)
        end
      end
    end
  end
  locations.each do |l|
    check("#{what}: /#{l} on one keep-alive connection, every one of #{times.values.sum { |t| t[l].size }} " \
          'paced and back-to-back requests answered 200 with its body', bad[l].empty?, bad[l].uniq.first(3).join(', '))
  end
  puts "#{what}: the paced client's connection was reopened #{client.reopened} times" if client.reopened.positive?
  times
rescue EOFError, SystemCallError => e
  check("#{what}: the paced client's requests on one keep-alive connection", false, e.message)
  nil
ensure
  client&.close
end

def percentile(values, fraction)
  values.sort[(values.size * fraction).ceil - 1]
end

# The paced phase's lines: each location's median latency over /plain's in
# either rhythm (one line each, /plain itself aside), and every location's
# p90 at the paced rhythm.  Figures only: speed is not asserted here.
def paced_report(times, prefix = '')
  paced, back = times.values
  added = ->(rhythm, l) { format('%+.0f', median(rhythm[l]) - median(rhythm['plain'])) }
  (paced.keys - ['plain']).each do |l|
    puts "#{prefix}paced /#{l}: #{added[paced, l]} us at a request every 100 ms, #{added[back, l]} us back to back"
  end
  puts "#{prefix}paced p90 at a request every 100 ms: " +
       paced.map { |l, t| format('/%s %.0f us', l, percentile(t, 0.9)) }.join(', ') +
       format(' (/plain median %.0f us, back to back %.0f us; %d requests per location and rhythm)',
              median(paced['plain']), median(back['plain']), paced['plain'].size)
end

def rss_kb(pid)
  File.read("/proc/#{pid}/status")[/VmRSS:\s+(\d+)/, 1].to_i
end

def fds(pid)
  Dir.children("/proc/#{pid}/fd").size
end

# The descriptor count once it has held still for 250 ms (3 s at most): ab
# has closed its keep-alive connections when it exits, but the server closes
# its ends on its next turn of the event loop (a count read straight after ab
# once saw 12 of the 16 still open).  Taken the same way before and after, so
# a descriptor the gem leaks still shows.
def idle_fds(pid)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 3
  last, still_since = fds(pid), Process.clock_gettime(Process::CLOCK_MONOTONIC)
  loop do
    sleep 0.05
    now, n = Process.clock_gettime(Process::CLOCK_MONOTONIC), fds(pid)
    last, still_since = n, now if n != last
    return n if now - still_since >= 0.25 || now > deadline
  end
end

# the processes whose parent is pid
# The live children of pid.  Not those that exited and wait to be reaped
# (state Z): the kernel shows such a zombie in the root group on v1
# (/proc/PID/cgroup reads "/" for every hierarchy), and Apache's parent
# reaps the old generation's children up to a second after a graceful
# restart, so that counting them once read as "7 of 16 children in the
# root group".
def children_of_pid(pid)
  Dir.children('/proc').grep(/\A\d+\z/).map(&:to_i).select do |p|
    stat = File.read("/proc/#{p}/stat") rescue next
    state, ppid = stat.match(/\) (\S) (\d+)/)&.captures
    ppid.to_i == pid && !%w[Z X].include?(state)
  end.sort
end

# ab's summary of n requests at concurrency c: requests/s, failed, non-2xx.
# Keep-alive unless asked not to: hundreds of thousands of fresh connections
# in a minute run out of local ports (TIME_WAIT), which is not the server's
# doing.  A body whose length varies (a counter in it) is not a failure.
def ab(url, n, concurrency, keepalive: true, varying_length: false, headers: [])
  out = IO.popen(['ab', '-q', *(keepalive ? ['-k'] : []), *headers.flat_map { |h| ['-H', h] },
                  '-n', n.to_s, '-c', concurrency.to_s, url], err: %i[child out], &:read)
  failed = out[/Failed requests:\s+(\d+)/, 1].to_i
  failed -= out[/Length: (\d+)/, 1].to_i if varying_length
  { rps: out[/Requests per second:\s+([\d.]+)/, 1].to_f, failed: failed,
    non2xx: out[/Non-2xx responses:\s+(\d+)/, 1].to_i, complete: out[/Complete requests:\s+(\d+)/, 1].to_i,
    out: out }
end

def ab_summary(result)
  result[:out].lines.grep(/Complete|Failed|Non-2xx|Length:|apr_/).join.strip
end

def median(values)
  values.sort[values.size / 2]
end

# Kill what is left in the groups below top (only the run's own server can
# be there) and remove them, deepest first.
def remove_groups(top_group)
  # each hierarchy once: cpuacct is cpu's on v2 and where v1 mounts them together
  MOUNTS.keys.uniq { |c| MOUNTS[c] }.each do |c|
    top = "#{MOUNTS[c]}#{top_group}"
    next unless File.directory?(top)

    Dir.glob("#{top}/**/").sort_by { |d| -d.count('/') }.each do |dir|
      File.read("#{dir}cgroup.procs").split.each { |p| Process.kill(:KILL, p.to_i) rescue nil } rescue nil
      20.times { break if (Dir.rmdir(dir) rescue nil) == 0; sleep 0.1 }
    end
    check("the #{c} groups are gone", !File.directory?(top))
  end
end
