# Runs once when the host stops.
# On cgroup v2 the CPU and MEMORY groups are one directory: delete what is left.
["#{$group}/request", $group].each do |name|
  [Cgroup::CPU, Cgroup::MEMORY].each do |klass|
    group = klass.new(name)
    group.delete if group.exist?
  end
end
