# Per request: only the move; the quota was set once in child_init.rb.
Cgroup.with($cpu) { Apache.rputs "ok" }
