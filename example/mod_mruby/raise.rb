# A handler that fails inside the block.  The limits are restored (the
# ensure of Worker#run, or Cgroup.with's move back); mod_mruby itself only logs an exception that
# leaves the script and answers 200, so the handler says 500 itself.
begin
  limited(CPU_LIMIT) { raise "request failed on purpose" }
rescue => e
  Apache::Request.new.log(Apache::APLOG_ERR, "raise.rb: #{e.class}: #{e.message}")
  Apache.return(Apache::HTTP_INTERNAL_SERVER_ERROR)
end
