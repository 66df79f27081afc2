/*
 * libFuzzer target over the gem's text handling: group names, the parsers
 * of cgroup files (integers, stat and io.stat lines, lists, keyed values,
 * and the counter files a pool's meter reads: src/accounting_counters.c; a line of
 * /proc/self/mountinfo: src/pace.c),
 * every v1/v2 conversion both ways (they are pure: the partner file's text
 * comes from the input too) and the checks on values set from Ruby.
 *
 * The first input byte picks the case (bits 1-2) and cgroup v1 or v2 (bit
 * 0), the second the attribute (its row in CGROUP_ATTRIBUTES); the rest is
 * the text (group and interface file names, and file values, in case 0).  Where a conversion needs
 * a second file's text (cpu.max, memory.max), the text after the first NUL byte is that file.
 * Exceptions are the expected answer to garbage; crashes, leaks and undefined behaviour are what
 * the sanitizers look for.  Built with the files of src/ and -DCGROUP_FUZZ, and run, by `rake
 * fuzz`.
 */
#include <stdlib.h>
#include <string.h>

#include <mruby.h>
#include <mruby/error.h>
#include <mruby/string.h>

#include "../../src/accounting.h"

void mrb_mruby_cgroup_gem_init(mrb_state *mrb);

/* libmruby.a without its gems: only the copy of the gem built with this
 * target is set up */
void
mrb_init_mrbgems(mrb_state *mrb)
{
  (void)mrb;
}

struct fuzz_input {
  unsigned char selector, row;
  const char *text; /* NUL-terminated copy */
  size_t len;
};

/* A group object of the attribute's class (the GC frees its context). */
static struct cgroup_ctx *
fuzz_ctx(mrb_state *mrb, const struct attribute *attr)
{
  return mcg_get_ctx(mrb, mcg_group_new(mrb, attr->controller, mrb_str_new_lit(mrb, "/fuzz")));
}

/* Stage a value for attr and translate it to v2 where v2 serves it. */
static void
stage(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value v,
      mrb_value partner)
{
  struct staged_value *staged = mcg_stage_value(mrb, ctx, attr, v);

  ctx->staged[attr - mcg_attributes] = staged; /* freed with ctx */
  /* never written here by design: as if reported, so that freeing it does
   * not warn once per input (millions of lines in a long run) */
  ctx->reported |= UINT64_C(1) << (attr - mcg_attributes);
  if (mcg_on_v2(attr->controller)) mcg_v2_text(mrb, ctx, attr, staged, partner);
}

static mrb_value
run_case(mrb_state *mrb, void *p)
{
  struct fuzz_input *in = (struct fuzz_input *)p;
  const struct attribute *attr = &mcg_attributes[in->row % ATTR_COUNT];
  size_t value_len = strlen(in->text), partner_len = in->len - value_len;
  const char *partner_text = in->text + value_len + (partner_len > 0);
  mrb_value text = mrb_str_new(mrb, in->text, in->len), result = mrb_nil_value();
  mrb_value value = mrb_str_new(mrb, in->text, value_len), v;
  mrb_value partner = mrb_str_new(mrb, partner_text, partner_len ? partner_len - 1 : 0);
  struct cgroup_ctx *ctx;
  char name[PATH_MAX];
  mrb_bool other_version;

  ctx = fuzz_ctx(mrb, attr); /* the first one finds the host's hierarchies */
  mcg_set_version(attr->controller, 1 + (in->selector & 1));
  switch ((in->selector >> 1) % 4) {
  case 0: /* names: an interface file's (a good one never leaves the directory), a group's */
    if (!mcg_file_name_fault(RSTRING_PTR(text), RSTRING_LEN(text), 1 + (in->selector & 1), "cpu",
                             &other_version) &&
        (memchr(RSTRING_PTR(text), '/', RSTRING_LEN(text)) || RSTRING_PTR(text)[0] == '.' ||
         memchr(RSTRING_PTR(text), '\0', RSTRING_LEN(text))))
      abort();
    mcg_file_value_fault(RSTRING_PTR(text), RSTRING_LEN(text));
    mcg_mountinfo_favors_dynmods(in->text, in->len); /* a line of /proc/self/mountinfo */
    mcg_normalise_name(mrb, ctx->host, text, name, sizeof name);
    break;
  case 1: /* a file's text read: key selection, v2 to v1, to Ruby; and as a pool meter's counter */
    mcg_counter_fits(&mcg_counters[in->row % mcg_counter_count], in->text, in->len);
    mcg_counter_value(&mcg_counters[in->row % mcg_counter_count], in->text, in->text + in->len);
    value = mcg_select_key(mrb, ctx, attr, value);
    if (mcg_on_v2(attr->controller)) value = mcg_v2_to_v1(mrb, ctx, attr, value, partner);
    result = mcg_text_to_value(mrb, ctx, attr, RSTRING_PTR(value), RSTRING_LEN(value));
    break;
  case 2: /* a String setting */
    if (attr->kind == KIND_STRING || attr->kind == KIND_DEVLIMIT)
      stage(mrb, ctx, attr, text, partner);
    break;
  default: /* an integer setting from the text */
    if ((attr->kind == KIND_INT || attr->kind == KIND_LIMIT) &&
        mcg_parse_integer(mrb, RSTRING_PTR(value), RSTRING_END(value), &v))
      stage(mrb, ctx, attr, v, partner);
  }
  return result;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static mrb_state *mrb;
  struct fuzz_input in;
  mrb_bool failed;
  char *copy;
  int ai, i;

  if (!mrb) {
    mrb = mrb_open_core(mrb_default_allocf, NULL);
    mrb_mruby_cgroup_gem_init(mrb);
  }
  if (size < 2) return 0;
  copy = malloc(size - 1);
  memcpy(copy, data + 2, size - 2);
  copy[size - 2] = '\0';
  in.selector = data[0];
  in.row = data[1];
  in.text = copy;
  in.len = size - 2;
  ai = mrb_gc_arena_save(mrb);
  mrb_protect_error(mrb, run_case, &in, &failed);
  mrb_gc_arena_restore(mrb, ai);
  for (i = 0; i < CTL_COUNT; i++) mcg_set_version((enum controller_id)i, 0);
  free(copy);
  return 0;
}
