# Accounting per request without a group per request: Cgroup::Pool keeps
# groups ("slots") made once under a base and leases each to one request at
# a time; src/accounting.c reads the slot's counters before and after.
#   POOL = Cgroup::Pool.new("#{base}/lease", :cpuacct, :memory, :pids)
#   usage = POOL.lease { handle(request) }   # => Cgroup::Usage
#   usage.cpu_usec, usage.memory_peak, usage.events
# A slot is this process's while it holds the slot's lock (an flock, which
# the kernel drops when the process dies), so workers never share one; a
# slot where tasks stayed (a child the request forked) stays this process's
# but is not leased until it is empty, and close raises Busy for it.
module Cgroup
  class Pool
    attr_reader :base, :size

    # controllers: names as Cgroup.group takes them (:cpu, :cpuacct, :memory,
    # :io, :blkio, :pids, ...) or classes.  CPU time comes from cpuacct (on
    # v2, and where v1 mounts cpu and cpuacct together, :cpu gives it too).
    # The block, if any, sets each slot's limits: it gets the slot's groups
    # in the order of controllers before they are made or taken over.
    def initialize(base, *controllers, size: 64, &configure)
      raise ArgumentError, "Cgroup::Pool needs a controller" if controllers.empty?
      raise ArgumentError, "size must be an Integer >= 1, got #{size.inspect}" unless size.is_a?(Integer) && size >= 1

      @base = Cgroup.group(controllers[0], base).group_name # "/a/b/" is "/a/b"; a bad name raises here
      @controllers = controllers
      @size = size
      @configure = configure
      @idle = [] # slots this process holds that no lease has
      @left = [] # slots it holds that a lease left tasks in
      @held = [] # every slot this process holds
    end

    # Move the calling thread (or pid) into a slot for the block, move it
    # back, and return what it used: a Cgroup::Usage.  The block gets the
    # Cgroup::Pool::Slot.  Leases may nest (each has its own slot); a fiber
    # switch inside the block is refused (Cgroup::FiberSwitch), as Cgroup.with
    # refuses it.
    def lease(pid = nil, &block)
      raise ArgumentError, "Cgroup::Pool#lease needs a block" unless block

      slot = take
      begin
        slot.run(pid, &block)
      ensure
        settle(slot)
        recheck_left unless @left.empty?
      end
    end

    # The slots this process holds, by group name.
    def slots
      @held.select { |s| s.meter.mine? }.map(&:name)
    end

    # Remove the slots this process holds (Cgroup::Busy for one where tasks
    # stayed, whose groups stay; the others are removed all the same).  A
    # forked child's pool only lets go of its copies: the slots are its
    # parent's.
    def close
      failed = nil
      @held = @held.select do |slot|
        next close_meter(slot) unless slot.meter.mine?

        begin
          slot.remove
          false
        rescue Cgroup::Error => e
          failed ||= e
          true # still held: a later close tries again, a lease takes it once empty
        end
      end
      @idle = []
      @left = @held.dup
      raise failed if failed
    end

    def inspect
      "#<Cgroup::Pool #{@base} (#{@controllers.join(', ')}) #{@held.size} held, #{@idle.size} idle, #{@left.size} with tasks left>"
    end

    private

    # An idle slot, else a new one, started: its counters read.  A slot
    # that cannot start (inherited over fork, its lock closed behind the
    # pool's back, removed from outside, tasks came into it) is let go.
    def take
      tries = 0
      while tries <= @size
        recheck_left if @idle.empty? && !@left.empty?
        slot = @idle.pop || adopt
        begin
          return slot if slot.meter.start
        rescue StandardError => e
          drop(slot)
          raise e # (a bare raise in mruby raises a new RuntimeError, not e)
        end
        drop(slot)
        tries += 1
      end
      Cgroup.__send__(:_raise, Cgroup.group(@controllers[0], @base), "Busy", "lease", "no slot could be started")
    end

    # After each lease, the slots leases left tasks in, looked at again:
    # one whose tasks are gone serves the next lease if no slot is idle, and
    # is let go otherwise, for any process to take (kept locked and unused,
    # it would shrink every worker's pool).
    def recheck_left
      @left.dup.each do |slot|
        next if tasks_left?(slot)

        @left.delete(slot)
        @idle.empty? ? settle(slot) : drop(slot)
      end
    end

    def tasks_left?(slot)
      slot.meter.state == :populated
    rescue Cgroup::Error
      false # removed from outside: settle lets it go, and a lease makes it again
    end

    # The first slot under base that no process holds and no task is in.
    def adopt
      @size.times do |n|
        name = "#{@base}/#{n}"
        next if @held.any? { |s| s.name == name }

        slot = Slot.new(name, @controllers)
        next unless slot.claim(@configure)

        @held << slot
        return slot
      end
      Cgroup.__send__(:_raise, Cgroup.group(@controllers[0], @base), "Busy", "lease",
                      "all #{@size} slots are held by other processes or hold tasks (size: sets how many)")
    end

    # After a lease: ready for the next, made anew (a peak spent), kept
    # aside (tasks stayed in it: still held, so close removes it or says
    # Busy; see recheck_left), or let go (no longer this process's).
    def settle(slot)
      case slot.meter.state
      when :ready then @idle << slot
      when :spent then slot.renew(@configure) ? @idle << slot : drop(slot)
      when :populated then @left << slot
      else drop(slot) # :foreign in a child forked inside the block
      end
    rescue Cgroup::Error
      drop(slot) # removed from outside meanwhile: the next lease makes it again
    end

    def drop(slot)
      slot.meter.close
      @held.delete(slot)
    end

    # A forked child's copy of the parent's slot: let go of, never removed.
    def close_meter(slot)
      slot.meter.close
      false
    end

    # One slot: its groups (one per controller) and their Cgroup::Meter.
    class Slot
      attr_reader :name, :groups, :meter

      def initialize(name, controllers)
        @groups = controllers.map { |c| c.is_a?(Class) ? c.new(name) : Cgroup.group(c, name) }
        @name = @groups[0].group_name # "//0", under the base "/", is "/0"
        @meter = Meter.new(@groups)
      end

      # Take the slot for this process: made if missing, locked, configured;
      # false when another process holds it or tasks are in it.
      def claim(configure, renewing = false)
        first = @groups[0]
        first.create unless first.exist?
        return false unless @meter.lock

        state = begin
          configure&.call(*@groups)
          @groups.each(&:create)
          @meter.state
        rescue StandardError => e
          @meter.close
          raise e
        end
        return true if state == :ready || (state == :spent && renewing)
        return renew(configure) if state == :spent

        @meter.close # tasks are in it: another time
        false
      end

      # Make the slot anew (its peak is spent): removed, made, locked again.
      def renew(configure)
        remove
        claim(configure, true)
      end

      def run(pid, &block)
        nest(0, pid, block)
        @meter.finish(@name)
      end

      # Removed while this process still holds the lock: let go first, and
      # another process could lock the slot, make its groups and start a
      # lease in them just before they are removed under it.  Each directory
      # once (the lock's last): a group sharing one already removed would
      # remove the slot as another process makes it again.  A refusal (Busy:
      # tasks in it) keeps the lock: the slot is still this process's.
      def remove
        @meter.directories.reverse_each(&:delete)
        @meter.close
      end

      def inspect
        "#<Cgroup::Pool::Slot #{@name}>"
      end

      private

      # attach(pid) each group in turn from index i, then the block
      def nest(i, pid, block)
        group = @groups[i]
        unless group
          @meter.entered
          return block.call(self)
        end
        if pid # the whole process, as doc/accounting.md says (attach moves a thread on v1)
          group.attach_process(pid) { nest(i + 1, pid, block) }
        else
          group.attach { nest(i + 1, pid, block) }
        end
      end
    end
  end

  # What one lease used (Cgroup::Pool#lease).  nil for what the pool's
  # controllers do not measure here.
  class Usage
    # slot: the group the lease ran in.  cpu_usec, user_usec, system_usec:
    # CPU time.  memory_peak: the most memory the group held at once above
    # what it held when the lease began, in bytes.  pids_peak: the most tasks
    # in the group at once, the leased ones included.  io: {"rbytes",
    # "wbytes", "rios", "wios"}, summed over devices.  events: the memory and
    # pids events that rose, with how often ({"memory.oom_kill" => 1}).
    # (Made by Cgroup::Meter#finish, src/accounting.c.)
    NO_EVENTS = {}.freeze
    attr_reader :slot, :cpu_usec, :user_usec, :system_usec, :io, :memory_peak, :pids_peak, :events

    # The OOM killer ended a task of the lease.
    def oom_killed?
      @events.key?("memory.oom_kill")
    end

    # A limit struck: memory at its max (or high), a fork refused.
    def limited?
      %w[memory.max memory.high pids.max].any? { |e| @events.key?(e) }
    end

    def to_h
      { "slot" => @slot, "cpu_usec" => @cpu_usec, "user_usec" => @user_usec, "system_usec" => @system_usec,
        "io" => @io, "memory_peak" => @memory_peak, "pids_peak" => @pids_peak, "events" => @events }
    end

    def inspect
      "#<Cgroup::Usage #{@slot} cpu #{@cpu_usec.inspect} us, memory peak #{@memory_peak.inspect}, " \
        "pids peak #{@pids_peak.inspect}, events #{@events.inspect}>"
    end
  end
end
