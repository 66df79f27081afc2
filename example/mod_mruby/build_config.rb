# mruby for mod_mruby, with this gem.  mod_mruby vendors mruby 2.1.1, which
# this gem does not build on (it needs mruby 3.1 or later: presym); mod_mruby's
# own C builds unchanged against mruby 3.1-4.0, so build this mruby and give
# it to mod_mruby's Makefile (tools/apache-test shows the commands):
#
#   MOD_MRUBY_SRC=/path/to/mod_mruby MRUBY_CGROUP_DIR=/path/to/mruby-cgroup \
#   MRUBY_CONFIG=$PWD/build_config.rb rake -f /path/to/mruby-3.1.0/Rakefile
#
# Only local gems, so it builds offline: the core gems, mod_mruby's own Ruby
# (Apache::Request helpers) and mruby-cgroup.  -fPIC: the library goes into
# mod_mruby.so, a shared object that Apache loads.
MRuby::Build.new('host') do |conf|
  toolchain :gcc
  conf.gembox 'full-core'
  conf.cc.flags << '-fPIC'
  conf.gem File.join(ENV['MOD_MRUBY_SRC'] || abort('set MOD_MRUBY_SRC to a mod_mruby checkout'),
                     'mrbgems', 'mod_mruby_mrblib')
  conf.gem ENV['MRUBY_CGROUP_DIR'] || abort('set MRUBY_CGROUP_DIR to the mruby-cgroup directory')
end
