# Create, then delete, $argument groups.
n = $argument.to_i
groups = Array.new(n) { |i| Cgroup::CPU.new("#{$group}/g#{i}") }
groups.each(&:create)
groups.each(&:delete)
