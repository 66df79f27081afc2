# Read MEMORY#stat and #usage_in_bytes once.
mem = Cgroup::MEMORY.new("#{$group}/req")
mem.stat
mem.usage_in_bytes
