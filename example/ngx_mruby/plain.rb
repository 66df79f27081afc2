Nginx.rputs "ok"
