# Held across a wait without the block form (a rewrite handler): the
# request attaches, waits (the worker serves other requests meanwhile,
# inside this group: doc/ngx_mruby.md), and detaches.  Requests that interleave like
# this leave the worker in the group of those still attached and back home
# after the last, in any order.
$cpu.attach
begin
  Nginx::Async.sleep(2)
ensure
  $cpu.detach
end
