# mrubyPostConfigMiddle: in Apache's parent, as root, before the children
# fork and drop to `User www-data`; it runs again at each restart (and twice
# at start-up: Apache reads its configuration twice).  Hand a subtree to the
# children's user, the way systemd hands a Delegate=yes service its group,
# and move the parent into its leaf "main": every child starts there, as
# www-data, and may make groups below BASE and move itself between them.
# delegate is idempotent: a restart finds the groups made and keeps them.
# On a systemd host put BASE below the service's own group (Delegate=yes).
# (No Apache.log here: mod_mruby has no request in this phase and crashes.)
BASE = "/mod-mruby"
# cpuacct for /account's CPU time (on v2 it is the cpu controller's own).
Cgroup.delegate(BASE, to: "www-data", controllers: [:cpu, :cpuacct, :memory])
