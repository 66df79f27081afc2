# Limits named by a key: HUGETLB per page size, MISC per resource.  Both
# need their controller enabled below the root of their hierarchy, which
# the tests never write on a host (it is not theirs): the VMs enable them.

PREFIX = CgroupTest.prefix

# Whether groups of this v2 controller can be made under the prefix without
# writing a group the tests did not make: its parent enables it already.
def enabled_above_prefix?(controller)
  return true if CgroupTest.version(controller) == 1
  mount = CgroupTest.mount(controller)
  parent = PREFIX.split("/")[0..-2].join("/")
  file = "#{mount}#{parent}/cgroup.subtree_control"
  CgroupTest.file?(file) && CgroupTest.read(file).split(" ").include?(controller)
end

assert('HUGETLB.page_sizes names the kernel\'s huge page sizes (/sys/kernel/mm/hugepages) as hugetlb files do') do
  dir = "/sys/kernel/mm/hugepages"
  kb = CgroupTest.entries(dir).select { |e| e.start_with?("hugepages-") && e.end_with?("kB") }
  kb = kb.map { |e| e["hugepages-".size..-3].to_i }.sort
  names = kb.map { |k| k >= 1 << 20 ? "#{k >> 20}GB" : k >= 1 << 10 ? "#{k >> 10}MB" : "#{k}KB" }
  assert_equal names, Cgroup::HUGETLB.page_sizes
end

assert('HUGETLB limits a page size: the third 2 MiB page past a 4 MiB limit is refused with SIGBUS') do
  skip "hugetlb is not available" unless CgroupTest.version('hugetlb')
  skip "no 2 MiB huge pages in this kernel" unless Cgroup::HUGETLB.page_sizes.include?("2MB")
  unless enabled_above_prefix?('hugetlb')
    skip "hugetlb is not enabled above #{PREFIX}; enabling it would write a group these tests did not make"
  end
  free = CgroupTest.read("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages").to_i
  CgroupTest.isolate do
    g = Cgroup::HUGETLB.new("#{PREFIX}/huge").create
    assert_equal(-1, g.limit("2MB"), "no limit at first")
    g.set_limit("2MB", 4 << 20)
    file = g.version == 2 ? "hugetlb.2MB.max" : "hugetlb.2MB.limit_in_bytes"
    assert_equal (4 << 20).to_s, CgroupTest.kernel_file('hugetlb', g.group_name, file).chomp
    assert_equal 4 << 20, g.limit
    skip "the huge page pool has #{free} free pages (3 needed): limits checked, not shown to bite" if free < 3
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.start_in(g, "huge", 2)), "two pages fit"
    assert_equal [nil, 7], CgroupTest.wait(CgroupTest.start_in(g, "huge", 3)), "the third: SIGBUS"
    assert_true g.events("2MB")["max"] >= 1, g.events.inspect
    assert_equal 0, g.usage, "all given back"
    g.set_limit("2MB", -1)
    assert_equal [0, nil], CgroupTest.wait(CgroupTest.start_in(g, "huge", 3)), "no limit: three fit"
    assert_raise(ArgumentError) { g.limit("3MB") }
    assert_raise(RangeError) { g.set_limit("2MB", -2) }
    assert_raise(TypeError) { g.set_limit("2MB", "4M") }
  end
end

assert('MISC reads its per-resource limits and refuses a resource the kernel does not have') do
  unless CgroupTest.version('misc')
    assert_raise(Cgroup::Unsupported) { Cgroup::MISC.new("#{PREFIX}/misc").create }
    skip "misc is not available here (cgroup v2, kernel 5.13)"
  end
  skip "misc is not enabled above #{PREFIX}" unless enabled_above_prefix?('misc')
  CgroupTest.isolate do
    g = Cgroup::MISC.new("#{PREFIX}/misc").create
    text = CgroupTest.kernel_file('misc', g.group_name, 'misc.max')
    expected = text.split("\n").map { |l| k, v = l.split(" "); [k, v == "max" ? -1 : v.to_i] }.to_h
    assert_equal expected, g.max
    assert_kind_of Hash, g.current
    e = assert_raise(Cgroup::InvalidValue) { g.set_max("no_such_resource", 1) }
    assert_equal "misc.max", e.file
    if expected.empty?
      CgroupTest.note "misc: this machine has no misc resource (SEV, TDX): parsed and refused, not shown to bite"
    else
      resource = expected.keys.first
      g.set_max(resource, 0)
      assert_equal 0, g.max[resource]
    end
  end
end
