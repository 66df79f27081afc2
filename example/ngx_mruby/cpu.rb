# Per request: only the move; the quota was set once in init_worker.rb.
Cgroup.with($cpu) { Nginx.rputs "ok" }
