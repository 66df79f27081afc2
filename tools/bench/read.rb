# Read MEMORY#stat and #usage_in_bytes once.
mem = Cgroup::MEMORY.new("#{$group}/request")
mem.stat
mem.usage_in_bytes
