# ngx_mruby's mruby build with this gem: put this file in place of the
# build_config.rb at the top of an ngx_mruby checkout (its Makefile builds
# mruby with MRUBY_CONFIG pointing there) and set MRUBY_CGROUP_DIR to this
# gem's directory.  Only local gems: ngx_mruby's own Ruby (Nginx::Async and
# friends), the core gems, and mruby-cgroup, so it builds offline (its
# rack-based-api gem fetches mruby-stringio from GitHub: left out).
MRuby::Build.new('host') do |conf|
  toolchain :gcc
  conf.defines << 'MRB_STR_LENGTH_MAX=10485760'
  conf.gembox 'full-core'
  conf.cc { |cc| cc.flags << ENV['NGX_MRUBY_CFLAGS'] if ENV['NGX_MRUBY_CFLAGS'] }
  conf.linker { |linker| linker.flags << ENV['NGX_MRUBY_LDFLAGS'] if ENV['NGX_MRUBY_LDFLAGS'] }
  conf.gem File.join(__dir__, 'mrbgems', 'ngx_mruby_mrblib')
  conf.gem ENV['MRUBY_CGROUP_DIR'] || abort('set MRUBY_CGROUP_DIR to the mruby-cgroup directory')
end
