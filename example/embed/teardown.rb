# Runs once when the host stops.
Cgroup::CPU.new("#{$group}/request").delete
Cgroup::MEMORY.new("#{$group}/request").delete
Cgroup::CPU.new($group).delete
Cgroup::MEMORY.new($group).delete
