# Stat hashes: the v2 names, which v1 figures are converted to where the
# kernel means the same thing (doc/v1-v2.md, "stat keys"); raw_stat is the file.
module Cgroup
  # hash with the keys in names renamed (old => new), for v1's stat files
  def renamed(hash, names)
    names.each { |old, new| hash[new] = hash.delete(old) if hash.key?(old) }
    hash
  end
  private :renamed

  class CPU
    # The CPUACCT object of the same group.
    def cpuacct
      CPUACCT.new(group_name)
    end

    def stat
      s = raw_stat
      return s if version == 2

      s = renamed(s, "throttled_time" => "throttled_usec", "burst_time" => "burst_usec")
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
      version == 2 ? raw_stat : renamed(raw_stat, V1_STAT_NAMES)
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
    # frozen: 1 once the whole group is frozen; populated: 1 if a process is
    # in it or below it (v2's cgroup.events "populated"; v1: the subtree's
    # cgroup.procs), as wait_empty sees it
    def stat
      { "frozen" => frozen? ? 1 : 0, "populated" => wait_empty(0) ? 0 : 1 }
    end
  end
end
