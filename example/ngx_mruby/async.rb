# An async handler done right: the request's fiber yields to the event loop
# only outside Cgroup.with, so no other request runs in this one's group.
Nginx::Async.sleep(5)
Cgroup.with($cpu) { Nginx.rputs "ok" }
