Cgroup.with($cpu, $mem) { Apache.rputs "ok" }
