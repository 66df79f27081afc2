# Accounting per request: a group of its own, its counter read, deleted.
$requests += 1
own = Cgroup::MEMORY.new("#{$base}/req-#{$child}-#{$requests}")
own.create
begin
  own.attach { Apache.rputs "ok" }
  Apache.rputs " #{own.max_usage_in_bytes}"
ensure
  own.delete
end
