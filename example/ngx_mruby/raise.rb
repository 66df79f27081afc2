# A handler that raises inside the block: the limits are restored by the
# ensure, the client gets a 500, and the error goes to error.log.
$worker.run(CPU_LIMIT) { raise "request failed on purpose" }
