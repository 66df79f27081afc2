Apache.rputs "ok"
