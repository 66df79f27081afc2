# Per request: the quota written into this child's group and restored after
# (child_init.rb's limited); nothing moves.
limited(CPU_LIMIT) { Apache.rputs "ok" }
