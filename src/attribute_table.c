/*
 * The rows of the attribute table (attribute_table.h) that the rest of the gem looks
 * attributes up in, and the file and key each has on the cgroup version
 * serving its controller here.
 */
#include <stddef.h>

#include <mruby.h>

#include "cgroup.h"

_Static_assert(ATTR_COUNT <= 64, "cgroup_ctx.reported has a bit per attribute");

const struct attribute mcg_attributes[ATTR_COUNT] = {
#define ATTRIBUTE_ROW(klass, rname, kind, access, f1, k1, f2, k2, conv)                            \
  {CTL_##klass, #rname, KIND_##kind, ACCESS_##access, {f1, f2}, {k1, k2}, V2_##conv},
    CGROUP_ATTRIBUTES(ATTRIBUTE_ROW)
#undef ATTRIBUTE_ROW
};

/* An attribute's file on the version serving ctx's controller (NULL: none). */
const char *
mcg_attr_file(const struct cgroup_ctx *ctx, const struct attribute *attr)
{
  return attr->file[mcg_ctx_on_v2(ctx)];
}

const char *
mcg_attr_key(const struct cgroup_ctx *ctx, const struct attribute *attr)
{
  return attr->key[mcg_ctx_on_v2(ctx)];
}
