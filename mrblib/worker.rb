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

      @classes = {}
      limits.each_key { |c| @classes[c] = Cgroup.group(c, base).class }
      @limits = check_limits(limits)
      @slot = hold_slot(base, limits.keys, size)
      @name = @slot.name
      @groups = @slot.groups
      @by_controller = {}
      limits.keys.each_with_index { |c, i| @by_controller[c] = @groups[i] }
      move_in
      @rest = rest_values(@limits)
      @changed = nil # [group, attribute] written for the request in progress
    end

    # Run the block with the request's limits in force in this worker's
    # group (the worker's limits, with override's in their place), and
    # restore what was in force before, also when the block raises.  Only
    # what differs from what is in force is written.  Returns the block's
    # value.  A run inside another (nested, or another fiber's request
    # while this one waits) raises Cgroup::Busy: limits are the group's,
    # and one request's would end the other's.
    def run(**override, &block)
      raise ArgumentError, "Cgroup::Worker#run needs a block" unless block

      enter(override)
      begin
        block.call(self)
      ensure
        leave
      end
    end

    # run, and what the request used in the worker's group: a Cgroup::Usage
    # (the counters' difference; the CPU time the caller ran before and
    # after the block charged first, so the figure is the block's).
    def account(**override, &block)
      raise ArgumentError, "Cgroup::Worker#account needs a block" unless block

      enter(override)
      begin
        meter = @slot.meter
        refuse("account", "the group is not this process's (inherited over fork?)") unless meter.start
        block.call(self)
        meter.finish(@name)
      ensure
        leave
      end
    end

    # Move this process back to where it was before and remove the group
    # (Cgroup::Busy when tasks are left in it: a child the worker forked).
    def close
      return unless @slot

      @groups.each(&:detach)
      @slot.remove
      @slot = nil
    end

    def inspect
      "#<Cgroup::Worker #{@name} #{@limits.inspect}>"
    end

    private

    def hold_slot(base, controllers, size)
      size.times do |n|
        slot = Pool::Slot.new("#{base}/#{n}", controllers)
        return slot if slot.claim(nil)
      end
      group = Cgroup.group(controllers[0], base)
      Cgroup.__raise(group, "Busy", Pool::EBUSY, "hold a worker's group",
                     "all #{size} groups are held by other processes or hold tasks (size: sets how many)")
    end

    # Each controller's limits as [attribute, value] pairs, every attribute
    # one its class writes (or memory's allowance).
    def check_limits(limits)
      checked = {}
      limits.each do |controller, attrs|
        klass = @classes[controller]
        raise ArgumentError, "#{controller}: not a controller of #{inspect}" unless klass
        raise ArgumentError, "#{controller}: limits must be a Hash, got #{attrs.inspect}" unless attrs.is_a?(Hash)

        checked[controller] = attrs.map do |attr, value|
          attr = attr.to_sym
          unless (attr == :allowance && klass == MEMORY) || klass.method_defined?("#{attr}=")
            raise ArgumentError, "#{klass} has no limit #{attr} (#{controller}: #{attrs.inspect})"
          end
          [attr, value]
        end
      end
      checked
    end

    # Into the group for good: the whole process (all its threads), once.
    def move_in
      @groups.each(&:attach_process)
      @slot.meter.inhabit
    rescue StandardError => e
      @groups.each { |g| g.detach rescue Cgroup::Error }
      @slot.remove
      raise e
    end

    # What is in force in the group between requests: the kernel's values.
    def rest_values(limits)
      rest = {}
      limits.each do |controller, attrs|
        group = @by_controller[controller]
        attrs.each do |attr, _|
          written = written_attribute(attr)
          rest[[controller, written]] = group.__send__(written)
        end
      end
      rest
    end

    def written_attribute(attr)
      attr == :allowance ? :limit_in_bytes : attr
    end

    def enter(override)
      raise_busy if @changed
      refuse("run", "the group is not this process's (inherited over fork?)") unless @slot&.meter&.mine?
      @changed = []
      begin
        request_limits(override).each { |controller, attrs| write_limits(controller, attrs) }
      rescue StandardError => e
        leave
        raise e
      end
    end

    def request_limits(override)
      return @limits if override.empty?

      merged = @limits.dup
      check_limits(override).each do |controller, attrs|
        merged[controller] = merged[controller].reject { |a, _| attrs.any? { |b, _| b == a } } + attrs
      end
      merged
    end

    # The request's values that differ from what is in force, staged and
    # written in one modify per group.
    def write_limits(controller, attrs)
      group = @by_controller[controller]
      staged = false
      attrs.each do |attr, value|
        written = written_attribute(attr)
        value = group.usage_in_bytes + value if attr == :allowance
        next if @rest[[controller, written]] == value

        group.__send__("#{written}=", value)
        @changed << [controller, written]
        staged = true
      end
      group.modify if staged
    end

    # What was in force before the request, written back; every group is
    # tried, and the first failure raised after.
    def leave
      changed = @changed
      @changed = nil
      return if changed.nil? || changed.empty?
      return unless @slot.meter.mine? # a child forked inside the block: the limits are its parent's

      failed = nil
      @by_controller.each do |controller, group|
        mine = changed.select { |c, _| c == controller }
        next if mine.empty?

        begin
          mine.each { |_, attr| group.__send__("#{attr}=", @rest[[controller, attr]]) }
          group.modify
        rescue Cgroup::Error => e
          failed ||= e
        end
      end
      raise failed if failed
    end

    def raise_busy
      Cgroup.__raise(@groups[0], "Busy", Pool::EBUSY, "run",
                     "a request is running in this worker's group already (nested, or another fiber's)")
    end

    def refuse(action, why)
      Cgroup.__raise(@groups[0], "Busy", Pool::EBUSY, action, why)
    end
  end
end
