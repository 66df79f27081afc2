# Per request: a CPU quota, and a memory allowance of 256 MiB above what the
# worker held when the request began; restored after.
$worker.run(CPU_MEMORY_LIMIT) { Nginx.rputs "ok" }
