# mruby with this gem built under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer, for `rake sanitize` (part of `make test`).
MRuby::Lockfile.disable rescue nil

MRuby::Build.new do |conf|
  conf.toolchain :gcc
  conf.gembox 'default'
  conf.gem File.expand_path('..', __dir__)
  conf.enable_test
  conf.enable_debug
  flags = %w[-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer]
  conf.cc.flags << flags
  conf.linker.flags << flags
end
