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

# Cgroup::Pool's slots below base/lease (example/*/account.rb): each is
# leased to one request at a time, and no task stays in one after it
def lease_slots_empty(base, controllers, when_)
  controllers.each do |c|
    next unless File.directory?("#{MOUNTS[c]}#{base}/lease")

    slots = children_of("#{base}/lease", c)
    left = slots.flat_map { |s| threads_in("#{base}/lease/#{s}", c) }
    check("no task left in a #{c} lease slot #{when_} (#{slots.size} slots)", left.empty?, left.inspect)
  end
end

# one GET on a fresh connection to the server at 127.0.0.1:port: the body
def http_get(port, path, host: '127.0.0.1')
  TCPSocket.open('127.0.0.1', port) do |s|
    s.write("GET /#{path} HTTP/1.0\r\nHost: #{host}\r\n\r\n")
    s.read.split("\r\n\r\n", 2)[1].to_s.strip
  end
end

# /account's answer: "ok", the request's memory peak and CPU time
def account_answer_checked(body, what)
  check("#{what}: /account answers with the request's memory peak and CPU time (#{body.inspect})",
        body.match?(/\Aok \d+ \d+\z/))
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
def children_of_pid(pid)
  Dir.children('/proc').grep(/\A\d+\z/).map(&:to_i).select do |p|
    stat = File.read("/proc/#{p}/stat") rescue next
    stat[/\) \S+ (\d+)/, 1].to_i == pid
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
