# Accounting per request: a group of the child's pool leased for the
# request, and what the request used in it (bytes at the peak, CPU time).
usage = $pool.lease { Apache.rputs "ok" }
Apache.rputs " #{usage.memory_peak} #{usage.cpu_usec}"
