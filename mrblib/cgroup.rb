module Cgroup
  alias open create
  alias close delete

  def group_name
    @group_name
  end

  def inspect
    "#<#{self.class} #{self.class::CONTROLLER}:#{@group_name}>"
  end

  class CPU
    # The CPUACCT object of the same group.
    def cpuacct
      CPUACCT.new(group_name)
    end
  end
end
