# The Cgroup module's own Ruby: aliases, names, Cgroup.with.  Its C side is
# src/mrb_cgroup.c and the files it calls; spawn.rb and stat.rb pair with
# src/spawn.c and the stat attributes.
#
# A name that begins with one underscore (Cgroup._claim, _delegate,
# _scope, _raise, _spawn_in, _child_started; Worker#_run, ...) is the gem's
# own, not API: a C primitive under a Ruby method.  Each file that calls
# one makes it private, which mruby enforces from 3.4 on; mruby 3.1 and 3.3
# accept `private` and do nothing (their C API defines public methods
# only), so there the underscore is the mark.
module Cgroup
  alias open create
  alias close delete
  alias [] read_file
  alias []= write_file

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

  # Whether the group is threaded (cgroup.type, v2); false on v1, which has
  # no such type (its hierarchies move threads anyway).
  def threaded?
    version == 2 && read_file("cgroup.type") == "threaded"
  end

  class << self
    private :_raise # src/module.c; Pool and Worker call it with __send__
  end

  # A group file opened for one object (src/files.c): Trigger, Peak.
  class GroupFile
    attr_reader :group, :file
  end

  # Attach the calling task to each group in turn, yield, and move it back
  # from each, last first, even when the block raises.
  def self.with(*groups, &block)
    raise ArgumentError, "Cgroup.with needs a block" unless block
    return block.call if groups.empty?

    first, *rest = groups
    first.attach { with(*rest, &block) }
  end

  # MEMORY#peak_tracker's object (src/memory.c)
  class Peak
    def inspect
      "#<Cgroup::Peak #{@group.group_name} #{@file}#{closed? ? ' (closed)' : ''}>"
    end
  end
end
