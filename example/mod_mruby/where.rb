# Where a request's thread is while it runs under the request group's
# quota, and how many tasks the group holds then (mod_mruby runs one script
# at a time per child, so one of this child's): tools/apache-test reads it
# to see that a request moves its own thread, under event too.
Cgroup.with($cpu) do
  here = File.open("/proc/thread-self/cgroup") { |f| f.read }
  Apache.rputs "#{$cpu.tasks.size}\n#{here}"
end
