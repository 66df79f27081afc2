# Runs once when a bench run's embed host stops: a Cgroup::Worker's group
# let go of (the host moves back where it was), then $group and everything
# below it, in each hierarchy the cases use.
$worker&.close
%w[cpu cpuacct memory].each { |c| Cgroup.group(c, $group).delete_tree if Cgroup.version(c) }
