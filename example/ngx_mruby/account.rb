# Accounting per request: a group of the worker's pool leased for the
# request, and what the request used in it (bytes at the peak, CPU time).
usage = $pool.lease { Nginx.rputs "ok" }
Nginx.rputs " #{usage.memory_peak} #{usage.cpu_usec}"
