# Accounting per request as example/ngx_mruby/account.rb did it before
# Cgroup::Pool: a group of its own, made, entered, read, left, deleted.
groups = [Cgroup::CPUACCT, Cgroup::MEMORY].map { |c| c.new("#{$group}/req-#{$request}").create }
groups[0].attach($worker_pid) { groups[1].attach($worker_pid) {} }
groups[0].usage
groups[1].max_usage_in_bytes
groups.each(&:delete)
