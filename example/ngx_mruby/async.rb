# An async wait done right (a rewrite handler: ngx_mruby resumes Nginx::Async
# in the set, rewrite and access phases): the request's fiber yields to the
# event loop outside any attach, and the content handler (cpu.rb) then runs
# the request in its group with Cgroup.with.
Nginx::Async.sleep(5)
