# An async wait done right (a rewrite handler: ngx_mruby resumes Nginx::Async
# in the set, rewrite and access phases): the request's fiber yields to the
# event loop outside any attach, and the content handler then runs
# the request in the shared group with Cgroup.with (shared.rb).
Nginx::Async.sleep(5)
