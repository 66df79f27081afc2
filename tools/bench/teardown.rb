Cgroup::CPU.new("#{$group}/req").delete
Cgroup::MEMORY.new("#{$group}/req").delete
Cgroup::CPU.new($group).delete
Cgroup::MEMORY.new($group).delete
