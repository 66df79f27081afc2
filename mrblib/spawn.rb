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

    # oom_error: what kept wait from reading an OOM count again (the group
    # removed, its file unreadable); oom_killed? and oom_group_killed? raise it
    def initialize(pid, exitstatus, termsig, oom_killed, oom_group_killed = false, via = nil, oom_error = nil)
      @pid = pid
      @exitstatus = exitstatus
      @termsig = termsig
      @oom_killed = oom_killed
      @oom_group_killed = oom_group_killed
      @via = via
      @oom_error = oom_error
    end

    def success?
      @exitstatus == 0
    end

    def signaled?
      !@termsig.nil?
    end

    # Killed by SIGKILL while the oom_kill count of a MEMORY group it was
    # spawned in rose: the OOM killer's doing.  Raises the error that kept
    # wait from reading the count, rather than answer false.
    def oom_killed?
      raise @oom_error if @oom_error

      @oom_killed
    end

    # OOM-killed together with every task of its group: the group's
    # oom_group_kill count rose (memory.oom.group set; v2, kernel 5.17).
    def oom_group_killed?
      raise @oom_error if @oom_error

      @oom_group_killed
    end

    def inspect
      how = @termsig ? "signal #{@termsig}" : "exit #{@exitstatus}"
      oom = if @oom_error then " (OOM kill unknown: #{@oom_error.class})"
            elsif @oom_group_killed then ' (OOM killed with its group)'
            elsif @oom_killed then ' (OOM killed)'
            else ''
            end
      "#<Cgroup::Status pid #{@pid} #{how}#{oom}>"
    end
  end

  class << self
    # Like cgexec: fork, move the child into every group given (one per
    # controller), exec argv; returns the pid.  Cgroup.wait(pid) reaps it.
    def spawn(groups, *argv)
      groups = [groups] unless groups.is_a?(Array)
      watched = groups.select { |g| g.is_a?(MEMORY) }.map { |g| [g, *counts_at_spawn(g)] }
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
      killed, group_killed, error = termsig == 9 ? oom_verdict(watched || []) : [false, false, nil]
      Status.new(pid, exitstatus, termsig, killed, group_killed, via, error)
    end

    private :_spawn_in, :_child_started # src/spawn.c

    private

    # [oom_kill, oom_group_kill] of a MEMORY group; nil for a count the
    # file does not have here (oom_group_kill: v2, 5.17; v2's oom_kill: 4.13)
    def oom_counts(group)
      return [group.oom_kill_count, nil] if group.version == 1

      events = group.raw_events
      [events["oom_kill"], events["oom_group_kill"]]
    end

    # The counts before the child starts.  Where there are none to read
    # (Unsupported: memory off for the group on v2, a v1 kernel before 4.13)
    # the child is never reported OOM-killed; any other error (the group
    # gone, a file this user may not read) raises, and nothing is started.
    def counts_at_spawn(group)
      oom_counts(group)
    rescue Cgroup::Unsupported
      [nil, nil]
    end

    # After a SIGKILL: [oom_kill rose in a group, oom_group_kill rose, nil];
    # or [nil, nil, the error] when a count could not be read again (the
    # group removed, its file unreadable): the child is reaped by now, so
    # its Status carries the error, raised by oom_killed?.
    def oom_verdict(watched)
      rose = watched.map { |g, *before| oom_rise(g, before) }
      [rose.any? { |r| r[0] }, rose.any? { |r| r[1] }, nil]
    rescue Cgroup::Error => e
      [nil, nil, e]
    end

    # [oom_kill rose, oom_group_kill rose] since the counts at spawn
    def oom_rise(group, before)
      return [false, false] unless before[0]

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
