/*
 * The one table of the Ruby surface: every attribute of every controller
 * class, from which mrb_cgroup.c generates the readers and writers and
 * attribute_table.c the rows the rest of the gem looks attributes up in.
 * Adding an attribute is one line here.
 */
#ifndef MRUBY_CGROUP_ATTRIBUTE_TABLE_H
#define MRUBY_CGROUP_ATTRIBUTE_TABLE_H

/*
 * X(class, Ruby name, kind, access, v1 file, v1 key, v2 file, v2 key, v2 conversion)
 *
 * A NULL file means the attribute does not exist on that cgroup version
 * (Cgroup::Unsupported).  "key" picks one "key value" line of the file.
 * kind (enum value_kind in cgroup.h):
 *         INT    decimal integer; the kernel's "max" reads as -1
 *         LIMIT  integer where Ruby's -1 is written as "max"
 *         STRING text, one value (trailing newline dropped)
 *         DEVLIMIT  a STRING "MAJ:MIN VALUE" (digits only), checked before writing
 *         FLAG   true/false, written as 1/0
 *         FLAT_KEYED    "key value" lines, read as a Hash of Integers
 *         NESTED_KEYED  "KEY key=value ..." lines, a Hash of Hashes (io.stat's
 *                       devices; PSI's "some"/"full" with Float averages)
 *         LIST   space separated integers, read as an Array
 * access: RO, WO, RW; RW_INHERIT is RW plus "copied from the parent on
 *         create when not set" on v1 (a v1 cpuset with empty cpus or mems
 *         refuses every task; on v2 an empty one inherits).
 * v2 conversion (a value is given in v1's terms, as the Ruby names say, and
 * v2.c formats it for v2's file when written, and converts v2's text when
 * read):
 *         SAME   as is ("-1" is written as "max")
 *         FIELD0, FIELD1  one field of a two-field file (cpu.max)
 *         WEIGHT cpu.shares <-> cpu.weight
 *         USEC   microseconds on v2, nanoseconds in Ruby (read only)
 *         IOMAX  "MAJ:MIN N" <-> the io.max entry named by the v2 key
 *         SWAP   memory+swap <-> memory.swap.X plus memory.X
 * Staged values are written in table order, so a memory limit goes in before
 * v2's memory.swap.max, which is computed from it; on v1 attribute.c orders
 * the memory pair by the direction of the change.
 */
#define CGROUP_ATTRIBUTES(X)                                                                       \
  X(CPU, cfs_period_us, INT, RW, "cpu.cfs_period_us", NULL, "cpu.max", NULL, FIELD1)               \
  X(CPU, cfs_quota_us, INT, RW, "cpu.cfs_quota_us", NULL, "cpu.max", NULL, FIELD0)                 \
  X(CPU, rt_period_us, INT, RW, "cpu.rt_period_us", NULL, NULL, NULL, SAME)                        \
  X(CPU, rt_runtime_us, INT, RW, "cpu.rt_runtime_us", NULL, NULL, NULL, SAME)                      \
  X(CPU, shares, INT, RW, "cpu.shares", NULL, "cpu.weight", NULL, WEIGHT)                          \
  X(CPU, cfs_burst_us, INT, RW, "cpu.cfs_burst_us", NULL, "cpu.max.burst", NULL, SAME)             \
  X(CPU, idle, FLAG, RW, "cpu.idle", NULL, "cpu.idle", NULL, SAME)                                 \
  X(CPU, raw_stat, FLAT_KEYED, RO, "cpu.stat", NULL, "cpu.stat", NULL, SAME)                       \
  X(CPU, max, STRING, RW, NULL, NULL, "cpu.max", NULL, SAME)                                       \
  X(CPU, weight, INT, RW, NULL, NULL, "cpu.weight", NULL, SAME)                                    \
  X(CPUACCT, usage, INT, RW, "cpuacct.usage", NULL, "cpu.stat", "usage_usec", USEC)                \
  X(CPUACCT, raw_stat, FLAT_KEYED, RO, "cpuacct.stat", NULL, "cpu.stat", NULL, SAME)               \
  X(CPUACCT, usage_percpu, LIST, RO, "cpuacct.usage_percpu", NULL, NULL, NULL, SAME)               \
  X(CPUSET, cpus, STRING, RW_INHERIT, "cpuset.cpus", NULL, "cpuset.cpus", NULL, SAME)              \
  X(CPUSET, mems, STRING, RW_INHERIT, "cpuset.mems", NULL, "cpuset.mems", NULL, SAME)              \
  X(CPUSET, effective_cpus, STRING, RO, "cpuset.effective_cpus", NULL, "cpuset.cpus.effective",    \
    NULL, SAME)                                                                                    \
  X(CPUSET, effective_mems, STRING, RO, "cpuset.effective_mems", NULL, "cpuset.mems.effective",    \
    NULL, SAME)                                                                                    \
  X(BLKIO, throttle_read_bps_device, DEVLIMIT, RW, "blkio.throttle.read_bps_device", NULL,         \
    "io.max", "rbps", IOMAX)                                                                       \
  X(BLKIO, throttle_write_bps_device, DEVLIMIT, RW, "blkio.throttle.write_bps_device", NULL,       \
    "io.max", "wbps", IOMAX)                                                                       \
  X(BLKIO, throttle_read_iops_device, DEVLIMIT, RW, "blkio.throttle.read_iops_device", NULL,       \
    "io.max", "riops", IOMAX)                                                                      \
  X(BLKIO, throttle_write_iops_device, DEVLIMIT, RW, "blkio.throttle.write_iops_device", NULL,     \
    "io.max", "wiops", IOMAX)                                                                      \
  X(BLKIO, io_service_bytes, STRING, RO, "blkio.throttle.io_service_bytes", NULL, NULL, NULL,      \
    SAME)                                                                                          \
  X(BLKIO, io_serviced, STRING, RO, "blkio.throttle.io_serviced", NULL, NULL, NULL, SAME)          \
  X(IO, max, STRING, RW, NULL, NULL, "io.max", NULL, SAME)                                         \
  X(IO, weight, INT, RW, NULL, NULL, "io.weight", "default", SAME)                                 \
  X(IO, stat, NESTED_KEYED, RO, NULL, NULL, "io.stat", NULL, SAME)                                 \
  X(MEMORY, limit_in_bytes, INT, RW, "memory.limit_in_bytes", NULL, "memory.max", NULL, SAME)      \
  X(MEMORY, memsw_limit_in_bytes, INT, RW, "memory.memsw.limit_in_bytes", NULL, "memory.swap.max", \
    NULL, SWAP)                                                                                    \
  X(MEMORY, soft_limit_in_bytes, INT, RW, "memory.soft_limit_in_bytes", NULL, "memory.low", NULL,  \
    SAME)                                                                                          \
  X(MEMORY, swappiness, INT, RW, "memory.swappiness", NULL, NULL, NULL, SAME)                      \
  X(MEMORY, move_charge_at_immigrate, INT, RW, "memory.move_charge_at_immigrate", NULL, NULL,      \
    NULL, SAME)                                                                                    \
  X(MEMORY, oom_control, FLAG, RW, "memory.oom_control", "oom_kill_disable", NULL, NULL, SAME)     \
  X(MEMORY, cgroup_event_control, STRING, WO, "cgroup.event_control", NULL, NULL, NULL, SAME)      \
  X(MEMORY, max, INT, RW, NULL, NULL, "memory.max", NULL, SAME)                                    \
  X(MEMORY, high, INT, RW, NULL, NULL, "memory.high", NULL, SAME)                                  \
  X(MEMORY, low, INT, RW, NULL, NULL, "memory.low", NULL, SAME)                                    \
  X(MEMORY, min, INT, RW, NULL, NULL, "memory.min", NULL, SAME)                                    \
  X(MEMORY, swap_max, INT, RW, NULL, NULL, "memory.swap.max", NULL, SAME)                          \
  X(MEMORY, zswap_max, INT, RW, NULL, NULL, "memory.zswap.max", NULL, SAME)                        \
  X(MEMORY, oom_group, FLAG, RW, NULL, NULL, "memory.oom.group", NULL, SAME)                       \
  X(MEMORY, usage_in_bytes, INT, RO, "memory.usage_in_bytes", NULL, "memory.current", NULL, SAME)  \
  X(MEMORY, max_usage_in_bytes, INT, RO, "memory.max_usage_in_bytes", NULL, "memory.peak", NULL,   \
    SAME)                                                                                          \
  X(MEMORY, memsw_usage_in_bytes, INT, RO, "memory.memsw.usage_in_bytes", NULL,                    \
    "memory.swap.current", NULL, SWAP)                                                             \
  X(MEMORY, memsw_max_usage_in_bytes, INT, RO, "memory.memsw.max_usage_in_bytes", NULL, NULL,      \
    NULL, SAME)                                                                                    \
  X(MEMORY, failcnt, INT, RO, "memory.failcnt", NULL, "memory.events", "max", SAME)                \
  X(MEMORY, oom_kill_count, INT, RO, "memory.oom_control", "oom_kill", "memory.events",            \
    "oom_kill", SAME)                                                                              \
  X(MEMORY, current, INT, RO, NULL, NULL, "memory.current", NULL, SAME)                            \
  X(MEMORY, peak, INT, RO, NULL, NULL, "memory.peak", NULL, SAME)                                  \
  X(MEMORY, raw_events, FLAT_KEYED, RO, NULL, NULL, "memory.events", NULL, SAME)                   \
  X(MEMORY, raw_stat, FLAT_KEYED, RO, "memory.stat", NULL, "memory.stat", NULL, SAME)              \
  X(PIDS, max, LIMIT, RW, "pids.max", NULL, "pids.max", NULL, SAME)                                \
  X(PIDS, current, INT, RO, "pids.current", NULL, "pids.current", NULL, SAME)                      \
  X(PIDS, events, FLAT_KEYED, RO, "pids.events", NULL, "pids.events", NULL, SAME)                  \
  X(PRESSURE, cpu, NESTED_KEYED, RO, NULL, NULL, "cpu.pressure", NULL, SAME)                       \
  X(PRESSURE, memory, NESTED_KEYED, RO, NULL, NULL, "memory.pressure", NULL, SAME)                 \
  X(PRESSURE, io, NESTED_KEYED, RO, NULL, NULL, "io.pressure", NULL, SAME)                         \
  X(PRESSURE, irq, NESTED_KEYED, RO, NULL, NULL, "irq.pressure", NULL, SAME)                       \
  X(MISC, max, FLAT_KEYED, RO, NULL, NULL, "misc.max", NULL, SAME)                                 \
  X(MISC, current, FLAT_KEYED, RO, NULL, NULL, "misc.current", NULL, SAME)                         \
  X(MISC, events, FLAT_KEYED, RO, NULL, NULL, "misc.events", NULL, SAME)

enum attribute_id {
#define ATTRIBUTE_ENUM(klass, rname, kind, access, f1, k1, f2, k2, conv) ATTR_##klass##_##rname,
  CGROUP_ATTRIBUTES(ATTRIBUTE_ENUM) ATTR_COUNT
#undef ATTRIBUTE_ENUM
};

#endif
