# Cgroup.claim: its C side is src/delegate.c.
module Cgroup
  # Take over the subtree this service was delegated: move the processes of
  # the caller's group into the group leaf below it, enable the controllers
  # there, and return the delegated group's path, below which the service
  # makes its groups: Cgroup::CPU.new("#{base}/request").  Call it again
  # (or in a forked worker) and it returns the same path.
  #   base = Cgroup.claim(:cpu, :memory, :pids)   # => "/system.slice/web.service"
  def self.claim(*controllers, leaf: "main")
    __claim(controllers, leaf)
  end
end
