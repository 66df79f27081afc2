# A quota all requests share: the worker moves into the shared group for the
# request and back (two moves: fast back to back, milliseconds each at a
# server's pace without favordynmods; doc/speed.md).
Cgroup.with($cpu) { Nginx.rputs "ok" }
