# mrubyFixupsMiddle: move this request's task into its virtual host's group
# (its thread on v1; on v2 its process, or its thread if the group is
# threaded).  A CGI that mod_cgi forks for the request is born there.  An
# unknown host stays where it is.  Each thread of a threaded MPM keeps its
# own objects, so that log_transaction's detach moves back this request's
# thread and nobody else's (mod_mruby runs one script at a time per child,
# but requests of other threads sit between their fixups and their logging).
tid = Apache.get_tid
unless (mine = $per_thread[tid])
  mine = $per_thread[tid] = {}
  $vhosts.each do |host, path|
    mine[host] = Cgroup::CPU.new(path)
    mine[host].threaded! if $threaded
  end
end
group = mine[Apache::Request.new.hostname]
if group
  group.attach
  $attached[tid] = group
end
