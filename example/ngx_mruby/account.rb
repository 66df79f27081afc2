# Accounting per request: what the request used in this worker's group (the
# counters' difference: bytes at the peak above where it began, CPU time).
usage = $worker.account { Nginx.rputs "ok" }
Nginx.rputs " #{usage.memory_peak} #{usage.cpu_usec}"
