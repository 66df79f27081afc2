# Runs once when the host starts: the groups every request uses.
Cgroup::CPU.new("#{$group}/request").create
Cgroup::MEMORY.new("#{$group}/request").create
