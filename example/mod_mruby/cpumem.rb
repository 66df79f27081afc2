# Per request: a CPU quota, and a memory allowance of 256 MiB above what the
# child held when the request began; restored after (threaded on v2: the
# CPU quota alone, by a move: memory cannot follow threads).
limited(CPU_MEMORY_LIMIT) { Apache.rputs "ok" }
