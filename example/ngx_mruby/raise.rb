# A handler that raises inside the block: the worker is moved back by the
# ensure, the client gets a 500, and the error goes to error.log.
Cgroup.with($cpu) { raise "request failed on purpose" }
