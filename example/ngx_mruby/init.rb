# mruby_init: once, in the master, as root, before the workers fork and
# drop to `user nobody`.  Hand a subtree to the workers' user, the way
# systemd hands a Delegate=yes service its group, and move the master into
# its leaf "main": every worker starts there, as nobody, and may make and
# enter groups below it.  On a systemd host put BASE below the service's
# own group (Cgroup.current_path(:memory) of the master, with Delegate=yes).
BASE = "/ngx-mruby"
# cpuacct for /account's CPU time (on v2, and where v1 mounts cpu and
# cpuacct together, it is the cpu controller's own).
Cgroup.delegate(BASE, to: "nobody", controllers: [:cpu, :cpuacct, :memory])
