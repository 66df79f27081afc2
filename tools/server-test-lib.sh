# What tools/ngx-test and tools/apache-test share, sourced with $part set
# (ngx, apache): their messages, the skip that ends with the part's
# closing line, and the Debian packages they install when missing.
say() { echo "$part-test: $*" >&2; }
skip() { say "SKIPPED: $*"; echo "$part: 0 passed, 0 failed, 1 skipped"; exit 3; }

need_packages() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  command -v apt-get >/dev/null || skip "missing$missing, and no apt-get"
  say "installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 ||
    skip "could not install$missing"
}
