# At a server's pace: the calling thread moved into a shared CPU group made
# once (Cgroup.with), and back: two moves per request.
$cpu ||= Cgroup::CPU.new("#{$group}/request").tap { |g| g.cfs_quota_us = 50_000; g.create }
Cgroup.with($cpu) {}
