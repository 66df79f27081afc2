Cgroup.with($cpu, $mem) { Nginx.rputs "ok" }
