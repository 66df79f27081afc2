c = Cgroup::MEMORY.new "/test"
if !c.exist?
  puts "create cgroup memory /test"
  c.create
end
c.limit_in_bytes = 1024 * 8
c.modify
c.attach
a=[]
99999.times { a << {} }
if c.exist?
  puts "delete /test group"
  c.delete
end
