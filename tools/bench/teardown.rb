# Runs once when a bench run's embed host stops: $group and everything
# below it, in each hierarchy the cases use.
%w[cpu cpuacct memory].each { |c| Cgroup.group(c, $group).delete_tree if Cgroup.version(c) }
