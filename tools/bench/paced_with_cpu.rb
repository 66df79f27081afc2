# At a server's pace: the calling thread moved into a shared CPU group made
# once (Cgroup.with), and back: two moves per request.
Cgroup.warn_moves = false # the table shows what they cost; no warning in it
unless $cpu
  $cpu = Cgroup::CPU.new("#{$group}/request")
  $cpu.cfs_quota_us = 50_000
  $cpu.create
end
Cgroup.with($cpu) {}
