# Pressure stall information, beside src/pressure.c (the triggers) and the
# PRESSURE rows of the attribute table (the readers).
module Cgroup
  class PRESSURE
    # Every resource's pressure: {"cpu" => {"some" => {...}, "full" => {...}}, ...};
    # irq only where the kernel has it (6.1, with IRQ time accounting).
    def stat
      out = { "cpu" => cpu, "memory" => memory, "io" => io }
      begin
        out["irq"] = irq
      rescue Cgroup::Unsupported
        # no irq.pressure in this kernel
      end
      out
    end

    # One trigger, waited for once: true when the tasks stalled stall_us
    # within a window_us window, false after timeout seconds (nil: for ever).
    def wait_for(resource, kind, stall_us, window_us, timeout: nil)
      trigger = trigger(resource, kind, stall_us, window_us)
      begin
        trigger.wait(timeout)
      ensure
        trigger.close
      end
    end
  end

  # The pressure of the resource a controller governs, in the group of the
  # same name in the cgroup2 hierarchy: on v2 this group itself; on a
  # hybrid host a PRESSURE group, which the tasks must be attached to.
  { CPU => :cpu, MEMORY => :memory, IO => :io, BLKIO => :io }.each do |klass, resource|
    klass.__send__(:define_method, :pressure) { PRESSURE.new(group_name).__send__(resource) }
  end

  class Trigger
    # "some|full STALL_US WINDOW_US", as written to the pressure file
    def spec
      @what
    end

    def inspect
      "#<Cgroup::Trigger #{@group.group_name} #{@file} \"#{@what}\"#{closed? ? ' (closed)' : ''}>"
    end
  end
end
