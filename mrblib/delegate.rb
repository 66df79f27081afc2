# Cgroup.claim and Cgroup.delegate: their C side is src/delegate.c.
module Cgroup
  # Take over the subtree this service was delegated: move the processes of
  # the caller's group into the group leaf below it, enable the controllers
  # there, and return the delegated group's path, below which the service
  # makes its groups: Cgroup::CPU.new("#{base}/request").  Call it again
  # (or in a forked worker) and it returns the same path.
  #   base = Cgroup.claim(:cpu, :memory, :pids)   # => "/system.slice/web.service"
  # In a container (a cgroup namespace) whose root holds the caller, base is
  # "/": the container's processes go into "/main", and its groups are "/name".
  def self.claim(*controllers, leaf: "main")
    _claim(controllers, leaf)
  end

  # The other side, for a root master whose workers run as another user
  # (nginx's `user nobody;`): make base and base/leaf in each controller's
  # hierarchy, hand both to the user `to` (a name or a uid) the way systemd
  # hands a Delegate=yes unit its group (the directory, cgroup.procs,
  # cgroup.subtree_control, cgroup.threads; v1: tasks, cgroup.procs), and
  # move this process into the leaf.  Workers forked afterwards start there
  # and, as that user, make and enter groups below base.  Returns base.
  #   base = Cgroup.delegate("/nginx", to: "nobody", controllers: [:cpu, :memory])
  def self.delegate(base, to:, controllers:, leaf: "main")
    _delegate(base, to, controllers, leaf)
  end

  class << self
    private :_claim, :_delegate # src/delegate.c
  end
end
