# mrubyLogTransactionMiddle: the request is answered; back to where the task
# was before fixups, for the next request.  (The classic script re-attached
# to a common group instead: libcgroup could not move a task to the root.)
group = $attached.delete(Apache.get_tid)
group.detach if group
