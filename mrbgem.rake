MRuby::Gem::Specification.new('mruby-cgroup') do |spec|
  spec.license = 'MIT'
  spec.authors = 'mruby-cgroup developers'
  spec.summary = 'Linux control groups (cpu, cpuacct, cpuset, blkio, io, memory, pids, freezer) through libcgroup'
  spec.version = '1.0.0'

  # mruby 3.1 is the oldest the C builds on (presym, mrb_protect_error,
  # keyword arguments): say so before the compiler fails on mruby/presym.h.
  # (mruby 2's build does not load MRuby::Source: read version.h.)
  version = %w[MAJOR MINOR TEENY].map do |part|
    File.read(File.join(MRUBY_ROOT, 'include', 'mruby', 'version.h'))[/^#define MRUBY_RELEASE_#{part} (\d+)/, 1].to_i
  end
  if (version <=> [3, 1, 0]).negative?
    raise "mruby-cgroup needs mruby 3.1 or later, and this is mruby #{version.join('.')}. " \
          'mod_mruby vendors mruby 2.1.1: build mod_mruby against mruby 3.1 instead ' \
          '(doc/apache.md; example/mod_mruby/build_config.rb)'
  end

  unless spec.search_package('libcgroup')
    raise "mruby-cgroup: libcgroup was not found by pkg-config " \
          "(on Debian: apt-get install libcgroup-dev pkg-config)"
  end
  # Cgroup.scope's engines: libcgroup 3's systemd support where the libcgroup
  # found has it, systemd's D-Bus API (sd-bus) where libsystemd is found.
  spec.cc.defines << 'MCG_HAVE_LIBCGROUP_SCOPE' if system('pkg-config --atleast-version=3.0 libcgroup')
  if spec.search_package('libsystemd')
    spec.cc.defines << 'MCG_HAVE_SD_BUS'
    spec.linker.libraries << 'systemd'
  end
  # The gem's own C (src/, test/) must build warning-free; mruby's generated
  # glue (gem_init.c) is compiled by the same compiler object without them.
  strict = %w[-Wall -Wextra -Werror]
  own = %w[src test].map { |d| File.join(dir, d) + '/' }
  spec.cc.define_singleton_method(:run) do |out, infile, defines = [], includes = [], flags = []|
    flags += strict if own.any? { |d| infile.to_s.start_with?(d) }
    super(out, infile, defines, includes, flags)
  end
  # after -lmruby too, for programs that embed mruby (mruby-config --libs)
  spec.linker.libraries << 'cgroup' << 'pthread'

  spec.add_dependency 'mruby-error', core: 'mruby-error' # mrb_ensure, for attach's block form
  spec.add_test_dependency 'mruby-string-ext', core: 'mruby-string-ext'
  spec.add_test_dependency 'mruby-array-ext', core: 'mruby-array-ext'
  spec.add_test_dependency 'mruby-fiber', core: 'mruby-fiber' # a fiber switch inside attach's block
  spec.add_test_dependency 'mruby-math', core: 'mruby-math'   # the shares-to-weight formula

  # mrbtest runs test/*.rb, or the files MRB_CGROUP_TESTS names (`make check
  # TESTS=...`); below test/ are scripts run elsewhere (the container recipe,
  # inside engines) and the fuzz target's corpus
  only = ENV['MRB_CGROUP_TESTS'].to_s.split
  spec.test_rbfiles = if only.empty?
                        Dir.glob(File.join(dir, 'test', '*.rb')).sort
                      else
                        only.map { |f| File.expand_path(f, dir) }
                      end
  # test/*.rb run children: the mruby binary, and the gem's own directory
  spec.test_args = {
    'mruby_bin' => File.join(build.build_dir, 'bin', 'mruby'),
    'embed_bin' => File.join(build.build_dir, 'bin', 'embed'), # built by the Rakefile
    'gem_dir' => dir,
  }
end
