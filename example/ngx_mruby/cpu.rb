# Per request: the quota written into this worker's group and restored
# after (init_worker.rb); nothing moves.
$worker.run(CPU_LIMIT) { Nginx.rputs "ok" }
