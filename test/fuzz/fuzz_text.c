/*
 * libFuzzer target over the gem's text handling: group names, the parsers
 * of cgroup files (integers, stat and io.stat lines, lists, keyed values),
 * the v1/v2 conversions that need no kernel (cpu.max fields, shares/weight,
 * usec, io.max entries) and the checks on values set from Ruby.
 *
 * The first input byte picks the case (bits 1-2) and cgroup v1 or v2 (bit
 * 0), the second the attribute (its row in CGROUP_ATTRIBUTES); the rest is
 * the text.  Exceptions are the expected answer to garbage; crashes, leaks and
 * undefined behaviour are what the sanitizers look for.  Built and run by
 * `rake fuzz` (clang -fsanitize=fuzzer,address,undefined).
 */
#include "../../src/mrb_cgroup.c"

/* libmruby.a without its gems: only this file's copy of the gem is set up */
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

static struct cgroup_ctx *
fuzz_ctx(mrb_state *mrb, enum controller_id controller)
{
  struct cgroup_ctx *ctx = mrb_calloc(mrb, 1, sizeof *ctx + sizeof "/fuzz");

  ctx->controller = controller;
  memcpy(ctx->path, "/fuzz", sizeof "/fuzz");
  return ctx;
}

/* v1 to v2 or back without reading the kernel: not FIELD0/1 writes, not SWAP */
static mrb_bool
offline(const struct attribute *attr, mrb_bool to_v2)
{
  switch (attr->conversion) {
  case V2_SWAP: return FALSE;
  case V2_FIELD0:
  case V2_FIELD1: return !to_v2;
  default: return TRUE;
  }
}

static mrb_value
run_case(mrb_state *mrb, void *p)
{
  struct fuzz_input *in = (struct fuzz_input *)p;
  const struct attribute *attr = &attributes[in->row % ATTR_COUNT];
  struct cgroup_ctx *ctx = fuzz_ctx(mrb, attr->controller);
  mrb_value text = mrb_str_new(mrb, in->text, in->len), result = mrb_nil_value();
  char name[PATH_MAX];

  mrb_data_object_alloc(mrb, mrb->object_class, ctx, &ctx_type); /* GC frees ctx */
  versions[attr->controller] = 1 + (in->selector & 1);
  switch ((in->selector >> 1) % 4) {
  case 0: normalise_name(mrb, CTL_CPU, text, name, sizeof name); break;
  case 1:
    text = select_key(mrb, ctx, attr, text);
    if (on_v2(attr->controller) && offline(attr, FALSE)) text = v2_to_v1(mrb, ctx, attr, text);
    result = text_to_value(mrb, ctx, attr, RSTRING_PTR(text), RSTRING_LEN(text));
    break;
  case 2:
    if (attr->kind == KIND_STRING || attr->kind == KIND_DEVLIMIT) {
      char *staged = value_to_text(mrb, ctx, attr, text);
      ctx->staged[attr - attributes] = staged; /* freed with ctx */
      if (on_v2(attr->controller) && offline(attr, TRUE)) v1_to_v2(mrb, ctx, attr, staged);
    }
    break;
  default: { /* an integer setting from the text, then to v2 */
    mrb_value v;
    if ((attr->kind == KIND_INT || attr->kind == KIND_LIMIT) &&
        parse_integer(mrb, in->text, in->text + in->len, &v)) {
      char *staged = value_to_text(mrb, ctx, attr, v);
      ctx->staged[attr - attributes] = staged;
      if (on_v2(attr->controller) && offline(attr, TRUE)) v1_to_v2(mrb, ctx, attr, staged);
    }
  }
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
  for (i = 0; i < CTL_COUNT; i++) versions[i] = 0;
  free(copy);
  return 0;
}
