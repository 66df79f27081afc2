# Per-request limits without moving anything: Cgroup::Worker.  A server's
# worker moves once, at its start, into a group of its own, and per request
# writes the request's limits into that group and restores them after.
# Writing a limit file takes none of the kernel's locks a move takes (a
# move after a quiet spell waits for an RCU grace period: milliseconds;
# doc/speed.md), so a request costs a few writes at any pace.
#   WORKER = Cgroup::Worker.new("#{base}/worker", cpu: { cfs_quota_us: 50_000 },
#                               memory: { allowance: 64 << 20 })
#   WORKER.run { handle(request) }               # => the block's value
#   usage = WORKER.account { handle(request) }   # => Cgroup::Usage
# The group is a slot under base (base/0, base/1, ...) that the worker holds
# locked while it lives, as Cgroup::Pool holds its slots: a worker that dies
# lets go of it, and the next one takes it over.
module Cgroup
  class Worker
    attr_reader :name, :groups, :limits

    # base: where the workers' groups are made.  limits: per controller (the
    # names Cgroup.group takes), the attributes to write for each request
    # and their values, as the attribute writers take them; memory's
    # allowance: the request may hold this many bytes more than the group
    # held when it began (the memory limit is written as that sum).  A
    # controller with no limits ({}) is only accounted.  size: how many
    # groups under base workers may hold at once.
    def initialize(base, size: 64, **limits)
      raise ArgumentError, "Cgroup::Worker needs a controller (cpu: { cfs_quota_us: 50_000 }, ...)" if limits.empty?
      raise ArgumentError, "size must be an Integer >= 1, got #{size.inspect}" unless size.is_a?(Integer) && size >= 1

      Worker.claim_process(nil) # one worker per process: Busy when it lives in one already
      @controllers = limits.keys
      @templates = @controllers.map { |c| Cgroup.group(c, base) }
      base = @templates[0].group_name # "/a/b/" is "/a/b"; at "/" (a container's root) "//0" is "/0"
      @limits = limits
      steps = compile(limits) # before any group is made: a limit it cannot write raises here
      @slot = hold_slot(base, @controllers, size)
      @name = @slot.name
      @groups = @slot.groups
      @meter = @slot.meter
      @rest = {}     # by attribute id: what is in force between requests (src/worker.c)
      @written = []  # the groups and attribute ids written for the request in progress
      @busy = false  # a request is in progress
      @steps = with_groups(steps)
      move_in
      Worker.claim_process(@name)
    end

    # Run the block with the request's limits in force in this worker's
    # group (the worker's limits, with override's in their place: a Hash
    # as Worker.new takes them, run(cpu: { cfs_quota_us: 10_000 })), and
    # restore what was in force before, also when the block raises.  Only
    # what differs from what is in force is written.  Returns the block's
    # value.  A run inside another raises Cgroup::Busy, a fiber switch
    # inside the block Cgroup::FiberSwitch: the limits are the group's, and
    # one request's would end, or bind, another's.
    def run(override = nil, &block)
      raise ArgumentError, "Cgroup::Worker#run needs a block" unless block
      refuse_closed("run") if @closing

      _run(override ? steps_for(override) : @steps, &block)
    end

    # run, and what the request used in the worker's group: a Cgroup::Usage
    # (the counters' difference; the CPU time the caller ran before and
    # after the block charged first, so the figure is the block's).
    def account(override = nil, &block)
      raise ArgumentError, "Cgroup::Worker#account needs a block" unless block
      refuse_closed("account") if @closing

      _account(override ? steps_for(override) : @steps, &block)
    end

    # Move this process back to where it was before and remove the group
    # (Cgroup::Busy when tasks are left in it: a child the worker forked;
    # the process has moved back all the same, and a later close removes
    # the group once they are gone).  No request runs after it.
    def close
      return unless @slot

      @groups.each(&:detach) unless @closing
      @closing = true
      Worker.release_process
      @slot.remove
      @slot = nil
    end

    def inspect
      "#<Cgroup::Worker #{@name} #{@limits.inspect}>"
    end

    private :_run, :_account, :_read_rest

    private

    def hold_slot(base, controllers, size)
      size.times do |n|
        slot = Pool::Slot.new("#{base}/#{n}", controllers)
        next unless slot.claim(nil)

        # made anew: a worker that died inside a request left its limits
        # in force there, which the next would take for the rest values
        return slot if slot.renew(nil)
      end
      group = Cgroup.group(controllers[0], base)
      Cgroup.__send__(:_raise, group, "Busy", "hold a worker's group",
                      "all #{size} groups are held by workers or hold tasks (size: sets how many)")
    end

    def refuse_closed(action)
      Cgroup.__send__(:_raise, @groups[0], "Busy", action, "the worker is closed: its process no longer lives here")
    end

    # Into the group for good: the whole process (all its threads), once,
    # and what is in force there read (the group is new: what each request
    # restores); on a failure, back out and the group removed.
    def move_in
      @groups.each(&:attach_process)
      @meter.inhabit
      _read_rest(@steps)
    rescue StandardError => e
      back_out
      raise e
    end

    # After a failed move_in: each group left again where it was attached,
    # and the slot removed; a failure here would hide the first one, which
    # is the one to raise.
    def back_out
      @groups.each { |g| refused_or_done { g.detach } } # not attached: the move failed first
      refused_or_done { @slot.remove } # a task keeps it: left for a later worker
    end

    def refused_or_done
      yield
    rescue Cgroup::Error
      nil
    end

    # The limits as steps a request writes (src/worker.c): [group, attribute
    # id, value, allowance?], the group as an index until the worker has
    # its groups.  Every attribute must be one its class writes (or memory's
    # allowance).
    def compile(limits)
      steps = []
      limits.each do |controller, attrs|
        i = @controllers.index(controller)
        raise ArgumentError, "#{controller}: not a controller of #{inspect}" unless i
        raise ArgumentError, "#{controller}: limits must be a Hash, got #{attrs.inspect}" unless attrs.is_a?(Hash)

        template = @templates[i]
        attrs.each do |attr, value|
          allowance = attr.to_sym == :allowance && template.is_a?(MEMORY)
          if allowance && !(value.is_a?(Integer) && value >= 0)
            raise ArgumentError, "memory: allowance must be an Integer of bytes >= 0, got #{value.inspect}"
          end
          # the value is checked as its writer would (type, range, this cgroup version's file)
          id = Worker.attribute_id(template, allowance ? :limit_in_bytes : attr.to_sym, value)
          raise ArgumentError, "#{template.class} has no limit #{attr} (#{controller}: #{attrs.inspect})" unless id

          steps << [i, id, value, allowance]
        end
      end
      steps
    end

    def with_groups(steps)
      steps.map { |i, id, value, allowance| [@groups[i], id, value, allowance] }
    end

    # The worker's steps, with override's in the place of those it names.
    def steps_for(override)
      raise ArgumentError, "limits must be a Hash (cpu: { cfs_quota_us: 10_000 }), got #{override.inspect}" unless override.is_a?(Hash)

      extra = with_groups(compile(override))
      @steps.reject { |s| extra.any? { |e| e[1] == s[1] } } + extra
    end
  end
end
