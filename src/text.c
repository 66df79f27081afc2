/*
 * Kernel text <-> Ruby values, and the check of group names: pure string
 * work, no I/O, so that the fuzz target (test/fuzz) reaches all of it.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mruby.h>
#include <mruby/array.h>
#include <mruby/hash.h>
#include <mruby/string.h>

#include "cgroup.h"

static mrb_bool
has_control_chars(mrb_value str)
{
  const char *p = RSTRING_PTR(str);
  mrb_int i;

  for (i = 0; i < RSTRING_LEN(str); i++) {
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return TRUE;
  }
  return FALSE;
}

/* A C string for an error message: the text itself, or its inspect form
 * when it holds NUL or other control characters. */
const char *
mcg_printable(mrb_state *mrb, mrb_value str)
{
  return RSTRING_CSTR(mrb, has_control_chars(str) ? mrb_inspect(mrb, str) : str);
}

/* Why one segment of a name is refused, or NULL; n is the length so far. */
static const char *
segment_fault(const char *seg, const char *end, size_t n, size_t size)
{
  const char *s;

  for (s = seg; s < end; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return "control character in name";
  }
  if (end == seg) return "empty segment in name";
  if ((end - seg == 1 && seg[0] == '.') || (end - seg == 2 && seg[0] == '.' && seg[1] == '.'))
    return "'.' and '..' are not allowed in names";
  if (end - seg > NAME_MAX) return "name segment longer than 255 bytes";
  if (n + 1 + (size_t)(end - seg) >= size) return "name too long";
  return NULL;
}

/*
 * Check a group name and write its normalised form ("/a/b", or "/" for the
 * root) to out.  Names are paths below the controller's mount: no "." or
 * ".." segments, no empty segments, no control characters, so that nothing
 * can point outside the cgroup tree.  One leading "//" is "/": a name built
 * as "#{base}/req" from Cgroup.claim's "/" at a namespace's root.
 */
void
mcg_normalise_name(mrb_state *mrb, const struct hierarchy *host, mrb_value name, char *out,
                   size_t size)
{
  const char *s = RSTRING_PTR(name), *end = s + RSTRING_LEN(name), *seg_end;
  const char *why;
  size_t n = 0;

  if (s < end && *s == '/') s++;
  if (end - s >= 2 && s[0] == '/' && s[1] != '/') s++; /* "//req": "#{base}/req" with base "/" */
  if (end - s >= 2 && end[-1] == '/' && end[-2] != '/') end--; /* "/a/b/" is "/a/b" */
  if (s == end && RSTRING_LEN(name) > 0) {                     /* "/" */
    strcpy(out, "/");
    return;
  }
  for (;; s = seg_end + 1) {
    seg_end = memchr(s, '/', end - s);
    if (!seg_end) seg_end = end;
    if ((why = segment_fault(s, seg_end, n, size))) break;
    out[n++] = '/';
    memcpy(out + n, s, seg_end - s);
    n += seg_end - s;
    out[n] = '\0';
    if (seg_end == end) return;
  }
  mcg_raise_error(mrb,
                  MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .host = host,
                              .group = mcg_printable(mrb, name), .action = "name", .reason = why));
}

/* Parse a decimal integer (or "max" = -1) from [s, end); FALSE if not one. */
mrb_bool
mcg_parse_integer(mrb_state *mrb, const char *s, const char *end, mrb_value *out)
{
  char buf[32], *stop;
  size_t len = end - s;
  long long v;

  if (len == 3 && memcmp(s, "max", 3) == 0) {
    *out = mrb_int_value(mrb, -1);
    return TRUE;
  }
  if (len == 0 || len >= sizeof buf) return FALSE;
  memcpy(buf, s, len);
  buf[len] = '\0';
  errno = 0;
  v = strtoll(buf, &stop, 10);
  if (*stop != '\0') return FALSE;
  if (errno == ERANGE) {
#ifndef MRB_NO_FLOAT
    /* counters above 2**63 (u64 "unlimited" values), and past 2**64 */
    *out = mrb_float_value(mrb, (mrb_float)strtod(buf, NULL));
    return TRUE;
#else
    return FALSE;
#endif
  }
  *out = mrb_int_value(mrb, (mrb_int)v);
  return TRUE;
}

mrb_noreturn void
mcg_raise_unexpected(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                     const char *text)
{
  mcg_raise_error(mrb, MCG_FAILURE(.cls = "Error", .ctx = ctx, .action = "parse",
                                   .file = mcg_attr_file(ctx, attr), .value = text,
                                   .reason = "unexpected content"));
}

const char *
mcg_skip_blanks(const char *s, const char *end)
{
  while (s < end && (*s == ' ' || *s == '\t' || *s == '\n')) s++;
  return s;
}

const char *
mcg_token_end(const char *s, const char *end)
{
  while (s < end && *s != ' ' && *s != '\t' && *s != '\n') s++;
  return s;
}

/* The value after "key " on one of the lines of [s, end), or NULL. */
const char *
mcg_find_key(const char *s, const char *end, const char *key, const char **value_end)
{
  size_t klen = strlen(key);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s);
    if (!eol) eol = end;
    if ((size_t)(eol - s) > klen && memcmp(s, key, klen) == 0 && s[klen] == ' ') {
      *value_end = eol;
      return s + klen + 1;
    }
    s = eol + 1;
  }
  return NULL;
}

/* The part of a file's text the attribute reads: its key's value, if any
 * (io.max's keys are picked per device by v2.c).  A key the file lacks is
 * one this kernel does not count (v1's oom_kill before 4.13): Unsupported,
 * as a file it lacks is. */
mrb_value
mcg_select_key(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value text)
{
  const char *key = mcg_attr_key(ctx, attr), *value, *end = RSTRING_END(text);

  if (!key || attr->conversion == V2_IOMAX) return text;
  value = mcg_find_key(RSTRING_PTR(text), end, key, &end);
  if (!value) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = "Unsupported", .err = EOPNOTSUPP, .ctx = ctx,
                                .action = "read", .file = mcg_attr_file(ctx, attr), .value = key,
                                .reason = "this kernel has no such key in the file"));
  }
  return mrb_str_new(mrb, value, end - value);
}

/* The integer token at *s, which moves past it and the blanks after it;
 * raises if it is not one (text is the whole file, for the message). */
static mrb_value
next_integer(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, const char *text,
             const char **s, const char *end)
{
  const char *v_end = mcg_token_end(*s, end);
  mrb_value num;

  if (!mcg_parse_integer(mrb, *s, v_end, &num)) mcg_raise_unexpected(mrb, ctx, attr, text);
  *s = mcg_skip_blanks(v_end, end);
  return num;
}

/* "key value" lines as {"key" => value} */
static mrb_value
flat_keyed_to_hash(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                   const char *text, const char *end)
{
  mrb_value hash = mrb_hash_new(mrb), key;
  const char *s = mcg_skip_blanks(text, end);

  while (s < end) {
    const char *key_end = mcg_token_end(s, end);
    key = mrb_str_new(mrb, s, key_end - s);
    s = mcg_skip_blanks(key_end, end);
    mrb_hash_set(mrb, hash, key, next_integer(mrb, ctx, attr, text, &s, end));
  }
  return hash;
}

/* An integer, or a decimal fraction "DIGITS.DIGITS" (PSI's averages) as a
 * Float; FALSE if neither.  Not strtod, which reads by the locale a host
 * program may have set (a decimal comma would make "1.49" 1.0): the digits
 * as one integer, divided by a power of ten, which is exact up to 15 digits
 * (division rounds correctly, as strtod does). */
static mrb_bool
parse_number(mrb_state *mrb, const char *s, const char *end, mrb_value *out)
{
#ifndef MRB_NO_FLOAT
  const char *dot = memchr(s, '.', end - s), *p;
  double digits = 0, scale = 1;

  if (!dot) return mcg_parse_integer(mrb, s, end, out);
  if (dot == s || dot + 1 == end || end - s > 16) return FALSE;
  for (p = s; p < end; p++) {
    if (p == dot) continue;
    if (*p < '0' || *p > '9') return FALSE;
    digits = digits * 10 + (*p - '0');
    if (p > dot) scale *= 10;
  }
  *out = mrb_float_value(mrb, digits / scale);
  return TRUE;
#else
  return mcg_parse_integer(mrb, s, end, out);
#endif
}

/* "KEY key=value ..." lines as {"KEY" => {"key" => value}}: io.stat's
 * "MAJ:MIN rbytes=N ...", the PSI files' "some avg10=0.12 ... total=N" */
static mrb_value
nested_keyed_to_hash(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                     const char *text, const char *end)
{
  mrb_value devices = mrb_hash_new(mrb), num;
  const char *s = mcg_skip_blanks(text, end);

  while (s < end) {
    const char *eol = memchr(s, '\n', end - s), *dev_end = mcg_token_end(s, end);
    mrb_value stats = mrb_hash_new(mrb);
    if (!eol) eol = end;
    mrb_hash_set(mrb, devices, mrb_str_new(mrb, s, dev_end - s), stats);
    for (s = mcg_skip_blanks(dev_end, eol); s < eol; s = mcg_skip_blanks(s, eol)) {
      const char *tok_end = mcg_token_end(s, eol), *eq = memchr(s, '=', tok_end - s);
      if (!eq || !parse_number(mrb, eq + 1, tok_end, &num))
        mcg_raise_unexpected(mrb, ctx, attr, text);
      mrb_hash_set(mrb, stats, mrb_str_new(mrb, s, eq - s), num);
      s = tok_end;
    }
    s = mcg_skip_blanks(eol, end);
  }
  return devices;
}

/* Space separated integers as an Array */
static mrb_value
list_to_array(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
              const char *text, const char *end)
{
  mrb_value ary = mrb_ary_new(mrb);
  const char *s = mcg_skip_blanks(text, end);

  while (s < end) mrb_ary_push(mrb, ary, next_integer(mrb, ctx, attr, text, &s, end));
  return ary;
}

/* Convert the text of a cgroup file (or of a staged value) to Ruby. */
mrb_value
mcg_text_to_value(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr,
                  const char *text, size_t len)
{
  const char *end = text + len;
  mrb_value num;

  while (end > text && end[-1] == '\n') end--;
  switch (attr->kind) {
  case KIND_STRING:
  case KIND_DEVLIMIT: return mrb_str_new(mrb, text, end - text);
  case KIND_FLAT_KEYED: return flat_keyed_to_hash(mrb, ctx, attr, text, end);
  case KIND_NESTED_KEYED: return nested_keyed_to_hash(mrb, ctx, attr, text, end);
  case KIND_LIST: return list_to_array(mrb, ctx, attr, text, end);
  default: break;
  }
  if (!mcg_parse_integer(mrb, text, end, &num)) mcg_raise_unexpected(mrb, ctx, attr, text);
  if (attr->kind == KIND_FLAG) return mrb_bool_value(!mrb_integer_p(num) || mrb_integer(num) != 0);
  return num;
}

static const char *
skip_digits(const char *s)
{
  const char *start = s;

  while (*s >= '0' && *s <= '9') s++;
  return s > start ? s : NULL;
}

/* "MAJ:MIN VALUE", all digits, single spaces: one device, one value. */
static mrb_bool
is_device_limit(const char *s)
{
  return (s = skip_digits(s)) && *s++ == ':' && (s = skip_digits(s)) && *s++ == ' ' &&
         (s = skip_digits(s)) && *s == '\0';
}

/* A device limit's VALUE without its leading zeros ("0" for zero); NULL
 * when it passes the kernel's u64, which would wrap it (%llu) into
 * another, tiny limit. */
static const char *
device_limit_value(const char *text)
{
  const char *v = strchr(text, ' ') + 1;
  size_t len;

  while (v[0] == '0' && v[1]) v++;
  len = strlen(v);
  return len < 20 || (len == 20 && strcmp(v, "18446744073709551615") <= 0) ? v : NULL;
}

static mrb_noreturn void
raise_type(mrb_state *mrb, const struct attribute *attr, mrb_value v, const char *expected)
{
  mrb_raisef(mrb, E_TYPE_ERROR, "%s expects %s, got %s", attr->name, expected,
             mrb_obj_classname(mrb, v));
}

static long long
flag_number(mrb_state *mrb, const struct attribute *attr, mrb_value v)
{
  if (!mrb_true_p(v) && !mrb_false_p(v)) raise_type(mrb, attr, v, "true or false");
  return mrb_true_p(v) ? 1 : 0;
}

/* One value: no NUL, no second line; a device limit in its one format. */
static const char *
string_text(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value v)
{
  const char *text, *why = NULL;

  if (!mrb_string_p(v)) raise_type(mrb, attr, v, "String");
  text = mcg_printable(mrb, v);
  if (has_control_chars(v))
    why = "control character in value";
  else if (attr->kind == KIND_DEVLIMIT && !is_device_limit(text))
    why = "expected \"MAJ:MIN VALUE\" in digits";
  else if (attr->kind == KIND_DEVLIMIT && !device_limit_value(text))
    why = "VALUE is beyond 64 bits (at most 18446744073709551615)";
  if (why) {
    mcg_raise_error(mrb,
                    MCG_FAILURE(.cls = "InvalidValue", .err = EINVAL, .ctx = ctx, .action = "set",
                                .file = mcg_attr_file(ctx, attr), .value = text, .reason = why));
  }
  return text;
}

/* -1 (unlimited) or 0 and above, within 64 bits. */
static long long
integer_number(mrb_state *mrb, const struct attribute *attr, mrb_value v)
{
  if (!mrb_integer_p(v)) {
    if (!mrb_obj_is_kind_of(mrb, v, mrb->integer_class)) raise_type(mrb, attr, v, "Integer");
    mrb_raisef(mrb, E_RANGE_ERROR, "%s: %v is beyond 64 bits", attr->name, v);
  }
  if (mrb_integer(v) < -1) {
    mrb_raisef(mrb, E_RANGE_ERROR, "%s must be -1 (unlimited) or 0 and above, got %v", attr->name,
               v);
  }
  return (long long)mrb_integer(v);
}

/* A Ruby value checked and typed for attr (mrb_malloc'd); raises
 * TypeError, RangeError or InvalidValue. */
struct staged_value *
mcg_stage_value(mrb_state *mrb, struct cgroup_ctx *ctx, const struct attribute *attr, mrb_value v)
{
  const char *text = "";
  long long number = 0;
  struct staged_value *sv;
  size_t len;

  switch (attr->kind) {
  case KIND_FLAG: number = flag_number(mrb, attr, v); break;
  case KIND_STRING: text = string_text(mrb, ctx, attr, v); break;
  case KIND_DEVLIMIT: /* "MAJ:MIN VALUE", its VALUE without leading zeros */
    text = string_text(mrb, ctx, attr, v);
    text =
        RSTRING_CSTR(mrb, mrb_format(mrb, "%v %s", mrb_str_new(mrb, text, strchr(text, ' ') - text),
                                     device_limit_value(text)));
    break;
  default: number = integer_number(mrb, attr, v);
  }
  len = strlen(text);
  sv = (struct staged_value *)mrb_malloc(mrb, sizeof *sv + len + 1);
  sv->number = number;
  memcpy(sv->text, text, len + 1);
  return sv;
}

/* A staged value as Ruby gave it (the readers show it until written). */
mrb_value
mcg_staged_to_value(mrb_state *mrb, const struct attribute *attr, const struct staged_value *sv)
{
  switch (attr->kind) {
  case KIND_FLAG: return mrb_bool_value(sv->number != 0);
  case KIND_STRING:
  case KIND_DEVLIMIT: return mrb_str_new_cstr(mrb, sv->text);
  default: return mrb_int_value(mrb, (mrb_int)sv->number);
  }
}

/* A staged value as cgroup v1's file takes it ("max" for a LIMIT's -1),
 * in buf or the value's own text. */
const char *
mcg_staged_v1_text(const struct attribute *attr, const struct staged_value *sv, char buf[32])
{
  if (attr->kind == KIND_STRING || attr->kind == KIND_DEVLIMIT) return sv->text;
  if (attr->kind == KIND_LIMIT && sv->number == -1) return "max";
  snprintf(buf, 32, "%lld", sv->number);
  return buf;
}
