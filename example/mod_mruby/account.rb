# Accounting per request: what the request used in this child's group (the
# counters' difference: bytes at the peak above where it began, CPU time).
usage = $worker.account { Apache.rputs "ok" }
Apache.rputs " #{usage.memory_peak} #{usage.cpu_usec}"
