# Bench: the groups the cases use, made once.
Cgroup::CPU.new("#{$group}/req").create
Cgroup::MEMORY.new("#{$group}/req").create
