# Running commands in groups, on Cgroup.spawn_in and Cgroup.waitpid
# (src/spawn.c): the status of a child, and whether the OOM killer ended it.
module Cgroup
  # Run argv in this group (see Cgroup.spawn); returns the pid.
  def spawn(*argv)
    Cgroup.spawn([self], *argv)
  end

  # What Cgroup.wait returns for a spawned child.
  class Status
    attr_reader :pid, :exitstatus, :termsig

    def initialize(pid, exitstatus, termsig, oom_killed)
      @pid = pid
      @exitstatus = exitstatus
      @termsig = termsig
      @oom_killed = oom_killed
    end

    def success?
      @exitstatus == 0
    end

    def signaled?
      !@termsig.nil?
    end

    # Killed by SIGKILL while the oom_kill count of a MEMORY group it was
    # spawned in rose: the OOM killer's doing.
    def oom_killed?
      @oom_killed
    end

    def inspect
      how = @termsig ? "signal #{@termsig}" : "exit #{@exitstatus}"
      "#<Cgroup::Status pid #{@pid} #{how}#{@oom_killed ? ' (OOM killed)' : ''}>"
    end
  end

  class << self
    # Like cgexec: fork, move the child into every group given (one per
    # controller), exec argv; returns the pid.  Cgroup.wait(pid) reaps it.
    def spawn(groups, *argv)
      groups = [groups] unless groups.is_a?(Array)
      # kernels before 4.13 have no oom_kill count: such a child is never reported OOM-killed
      watched = groups.select { |g| g.is_a?(MEMORY) }.map { |g| [g, (g.oom_kill_count rescue nil)] }
      pid = spawn_in(groups, argv)
      spawned[pid] = watched
      pid
    end

    # Reap a child (spawned or not): a Cgroup::Status.
    def wait(pid)
      exitstatus, termsig = waitpid(pid)
      watched = spawned.delete(pid) || []
      oom = termsig == 9 && watched.any? { |g, before| before && g.exist? && g.oom_kill_count > before }
      Status.new(pid, exitstatus, termsig, oom)
    end

    private

    def spawned
      @spawned ||= {}
    end
  end
end
