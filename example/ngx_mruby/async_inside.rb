# The wrong way round: yielding inside the block.  mruby cannot switch
# fibers across the gem's C frame; the gem moves the worker back and the
# client gets a 500 with Cgroup::FiberSwitch in error.log (doc/ngx_mruby.md).
Cgroup.with($cpu) { Nginx::Async.sleep(5) }
