assert('Cgroup classes exist') do
  assert_kind_of Module, Cgroup
  assert_true Cgroup::MEMORY.include?(Cgroup)
end
