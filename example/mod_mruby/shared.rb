# A quota all requests share: the request's thread moves into the shared
# group and back (two moves: fast back to back, milliseconds each at a
# server's pace without favordynmods; doc/speed.md).
Cgroup.with($cpu) { Apache.rputs "ok" }
