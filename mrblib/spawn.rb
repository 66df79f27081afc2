# Running commands in groups, on Cgroup._spawn_in and Cgroup.waitpid
# (src/spawn.c): the status of a child, and whether the OOM killer ended it.
module Cgroup
  # Run argv in this group (see Cgroup.spawn); returns the pid.
  def spawn(*argv)
    Cgroup.spawn([self], *argv)
  end

  # What Cgroup.wait returns for a spawned child.
  class Status
    # via: :clone3 (born in its v2 group, CLONE_INTO_CGROUP), :fork (forked,
    # then it wrote its pid into each group), nil (not spawned by Cgroup.spawn)
    attr_reader :pid, :exitstatus, :termsig, :via

    def initialize(pid, exitstatus, termsig, oom_killed, oom_group_killed = false, via = nil)
      @pid = pid
      @exitstatus = exitstatus
      @termsig = termsig
      @oom_killed = oom_killed
      @oom_group_killed = oom_group_killed
      @via = via
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

    # OOM-killed together with every task of its group: the group's
    # oom_group_kill count rose (memory.oom.group set; v2, kernel 5.17).
    def oom_group_killed?
      @oom_group_killed
    end

    def inspect
      how = @termsig ? "signal #{@termsig}" : "exit #{@exitstatus}"
      oom = @oom_group_killed ? ' (OOM killed with its group)' : @oom_killed ? ' (OOM killed)' : ''
      "#<Cgroup::Status pid #{@pid} #{how}#{oom}>"
    end
  end

  class << self
    # Like cgexec: fork, move the child into every group given (one per
    # controller), exec argv; returns the pid.  Cgroup.wait(pid) reaps it.
    def spawn(groups, *argv)
      groups = [groups] unless groups.is_a?(Array)
      # kernels before 4.13 have no oom_kill count: such a child is never reported OOM-killed
      watched = groups.select { |g| g.is_a?(MEMORY) }.map { |g| [g, *oom_counts(g)] }
      pid, via = _spawn_in(groups, argv)
      forget_reaped
      spawned[pid] = [watched, _child_started(pid), via]
      pid
    end

    # The primitive under spawn, without its record for wait: start argv in
    # every group given (an Array), and return the pid.
    def spawn_in(groups, argv)
      _spawn_in(groups, argv)[0]
    end

    # Reap a child (spawned or not): a Cgroup::Status.  Raises
    # Cgroup::Unsupported where SIGCHLD is ignored (no status is left).
    def wait(pid)
      watched, started, via = spawned.delete(pid)
      watched = via = nil unless started && _child_started(pid) == started # not a reused pid
      exitstatus, termsig = waitpid(pid)
      rose = termsig == 9 ? (watched || []).map { |g, *before| oom_rise(g, before) } : []
      Status.new(pid, exitstatus, termsig, rose.any? { |r| r[0] }, rose.any? { |r| r[1] }, via)
    end

    private :_spawn_in, :_child_started # src/spawn.c

    private

    # [oom_kill, oom_group_kill] of a MEMORY group; nil where the kernel or
    # version has no such count (oom_kill: 4.13; oom_group_kill: v2, 5.17)
    def oom_counts(group)
      kills = group.oom_kill_count rescue nil
      group_kills = (group.raw_events["oom_group_kill"] rescue nil) if kills && group.version == 2
      [kills, group_kills]
    end

    # [oom_kill rose, oom_group_kill rose] since the counts at spawn
    def oom_rise(group, before)
      return [false, false] unless before[0] && group.exist?

      now = oom_counts(group)
      [now[0] > before[0], !before[1].nil? && !now[1].nil? && now[1] > before[1]]
    end

    # pid => [[[MEMORY group, its oom_kill and oom_group_kill counts at spawn], ...],
    #         start time, :clone3 or :fork]
    def spawned
      @spawned ||= {}
    end

    # Drop the records of children reaped without Cgroup.wait (Cgroup.waitpid,
    # the host's own SIGCHLD handler): the table holds live children only.
    def forget_reaped
      spawned.keys.each { |pid| spawned.delete(pid) unless _child_started(pid) == spawned[pid][1] }
    end
  end
end
