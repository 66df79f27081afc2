# Cgroup.scope: its C side is src/scope.c.
module Cgroup
  # Ask systemd (PID 1) for a transient scope with Delegate=yes around pid
  # (this process when nil), and return its group; then Cgroup.claim or
  # groups below it as in a delegated service.  engine: :libcgroup or
  # :sd_bus, of Cgroup::SCOPE_ENGINES (nil: libcgroup for root where built).
  #   Cgroup.scope("batch-42.scope")   # => "/system.slice/batch-42.scope"
  def self.scope(name, pid: nil, slice: nil, engine: nil)
    _scope(name, pid, slice, engine)
  end

  class << self
    private :_scope # src/scope.c
  end
end
