module Cgroup
  alias open create
  alias close delete

  def group_name
    @group_name
  end

  def inspect
    "#<#{self.class} #{self.class::CONTROLLER}:#{@group_name}>"
  end

  # The cgroup version serving this object's controller (1 or 2).
  def version
    Cgroup.version(self.class::CONTROLLER)
  end

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

    # Attach the calling task to each group in turn, yield, and move it back
    # from each, last first, even when the block raises.
    def with(*groups, &block)
      raise ArgumentError, "Cgroup.with needs a block" unless block
      return block.call if groups.empty?

      first, *rest = groups
      first.attach { with(*rest, &block) }
    end

    private

    def spawned
      @spawned ||= {}
    end
  end

  # Stat hashes: the v2 names, which v1 figures are converted to where the
  # kernel means the same thing (README, "stat keys"); raw_stat is the file.
  def self.renamed(hash, names)
    names.each { |old, new| hash[new] = hash.delete(old) if hash.key?(old) }
    hash
  end

  class CPU
    # The CPUACCT object of the same group.
    def cpuacct
      CPUACCT.new(group_name)
    end

    def stat
      s = raw_stat
      return s if version == 2

      s = Cgroup.renamed(s, "throttled_time" => "throttled_usec", "burst_time" => "burst_usec")
      %w[throttled_usec burst_usec].each { |k| s[k] /= 1000 if s[k] }
      s
    end
  end

  class CPUACCT
    def stat
      s = raw_stat
      return s if version == 2

      { "usage_usec" => usage / 1000,
        "user_usec" => s["user"] * 1_000_000 / USER_HZ,
        "system_usec" => s["system"] * 1_000_000 / USER_HZ }
    end
  end

  class CPUSET
    def stat
      { "effective_cpus" => effective_cpus, "effective_mems" => effective_mems }
    end
  end

  class MEMORY
    V1_STAT_NAMES = { "rss" => "anon", "cache" => "file", "mapped_file" => "file_mapped",
                      "dirty" => "file_dirty", "writeback" => "file_writeback" }.freeze

    def stat
      version == 2 ? raw_stat : Cgroup.renamed(raw_stat, V1_STAT_NAMES)
    end

    # Counts of memory events: "max" (usage hit the limit) and "oom_kill" on
    # both versions; v2 adds low, high, oom and oom_group_kill.
    def events
      return raw_events if version == 2

      { "max" => failcnt, "oom_kill" => oom_kill_count }
    end
  end

  class BLKIO
    V1_IO_KEYS = { "Read" => "r", "Write" => "w", "Discard" => "d" }.freeze

    # Per device ("MAJ:MIN"): rbytes, wbytes, rios, wios (dbytes, dios), as
    # v2's io.stat; on v1 from the throttle layer's service counters.
    def stat
      return IO.new(group_name).stat if version == 2

      out = {}
      [[io_service_bytes, "bytes"], [io_serviced, "ios"]].each do |text, unit|
        text.split("\n").each do |line|
          dev, op, value = line.split
          next unless value && V1_IO_KEYS[op]

          (out[dev] ||= {})["#{V1_IO_KEYS[op]}#{unit}"] = value.to_i
        end
      end
      out
    end
  end

  class PIDS
    # current tasks, the limit (-1: none) and how many forks it refused
    def stat
      { "current" => current, "max" => max, "refused" => events["max"] }
    end
  end

  class FREEZER
    # frozen: 1 once the whole group is frozen; populated: 1 if it has tasks
    def stat
      { "frozen" => frozen? ? 1 : 0, "populated" => procs.empty? ? 0 : 1 }
    end
  end
end
