# Builds mruby with this gem: bin/mruby and bin/mirb for scripts, bin/mrbtest
# for the tests.  Used by the Rakefile through MRUBY_CONFIG.
MRuby::Lockfile.disable rescue nil

MRuby::Build.new do |conf|
  conf.toolchain :gcc
  conf.gembox 'default'
  conf.gem File.expand_path(__dir__)
  conf.enable_test
  conf.enable_debug if ENV['MRB_CGROUP_DEBUG']
end
