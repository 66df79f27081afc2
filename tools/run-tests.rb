# Runs mrbtest against the kernel's cgroups under a prefix of its own, then
# removes every group left under that prefix, whatever the tests did.
# Usage: ruby tools/run-tests.rb [wrapper args...] path/to/mrbtest
command = ARGV.dup
abort "usage: run-tests.rb [wrapper...] mrbtest" if command.empty?
prefix = "/mrbcg-test-#{Process.pid}-#{rand(1 << 32).to_s(16)}"
ENV['MRB_CGROUP_TEST_PREFIX'] = prefix

def cgroup_mounts
  File.readlines('/proc/self/mountinfo').filter_map do |line|
    fields = line.split
    sep = fields.index('-')
    fields[4] if sep && fields[sep + 1] =~ /\Acgroup2?\z/
  end
end

# Kill what is still inside (only this run's children can be), then rmdir
# deepest first.  Returns the groups that were left below the prefix.
def sweep(top)
  left = []
  Dir.glob("#{top}/**/").sort_by { |d| -d.count('/') }.each do |dir|
    dir = dir.chomp('/')
    procs = File.exist?("#{dir}/cgroup.procs") ? File.read("#{dir}/cgroup.procs").split.map(&:to_i) : []
    procs.each { |pid| Process.kill(:KILL, pid) rescue nil }
    50.times { break if (Dir.rmdir(dir) rescue nil) == 0; sleep 0.1 }
    left << dir unless dir == top
  end
  left
end

output = +''
IO.popen([*command, '-v', err: [:child, :out]]) do |io|
  io.each_line { |l| print l; output << l }
end
status = $?

left = cgroup_mounts.flat_map { |m| File.directory?(m + prefix) ? sweep(m + prefix) : [] }
still = cgroup_mounts.select { |m| File.directory?(m + prefix) }
unless left.empty?
  puts "tests left these groups behind (now removed):", left.map { |d| "  #{d}" }
end
abort "could not remove #{still.map { |m| m + prefix }.join(', ')}" unless still.empty?

total, ok, ko, crash, skip = %w[Total OK KO Crash Skip].map { |k| output[/^\s*#{k}: (\d+)/, 1].to_i }
puts "mrbtest #{status.success? ? 'exited 0' : "failed (#{status})"}"
puts "#{ok} passed, #{ko + crash} failed, #{skip} skipped"
exit(status.success? && left.empty? && total > 0 && ko + crash == 0 ? 0 : 1)
