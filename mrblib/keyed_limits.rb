# Limits named by a key rather than by the file alone, on read_file and
# write_file: HUGETLB's per page size (hugetlb.2MB.max), MISC's per
# resource (misc.max "sev 4").  Unlike the attributes, the setters write at
# once: there is no staging for files whose names depend on the kernel.
module Cgroup
  class HUGETLB
    # The huge page sizes this kernel has, as its files name them: ["2MB", "1GB"]
    def self.page_sizes
      Cgroup.hugepage_sizes
    end

    # Bytes of huge pages of this size the group may fault in; -1 = no limit
    # (v2's "max"; v1's page counter maximum, 2**63 rounded down to the page
    # size: 19 digits, told apart by its length, as Integer comparisons this
    # large are not reliable in every mruby build).
    def limit(size = "2MB")
      text = read_file(file_for(size, "limit_in_bytes", "max"))
      text.size >= 19 ? -1 : number(text)
    end

    def set_limit(size, bytes)
      raise TypeError, "bytes must be an Integer" unless bytes.is_a?(Integer)
      raise RangeError, "bytes must be >= -1, got #{bytes}" if bytes < -1

      write_file(file_for(size, "limit_in_bytes", "max"), bytes == -1 && version == 2 ? "max" : bytes)
      self
    end

    # Bytes of huge pages of this size in use.
    def usage(size = "2MB")
      number(read_file(file_for(size, "usage_in_bytes", "current")))
    end

    # {"max" => faults refused at the limit}, on both versions.
    def events(size = "2MB")
      if version == 2
        read_file(file_for(size, nil, "events")).split("\n").map { |l| k, v = l.split(" "); [k, v.to_i] }.to_h
      else
        { "max" => number(read_file(file_for(size, "failcnt", nil))) }
      end
    end

    private

    def file_for(size, v1, v2)
      size = size.to_s
      unless HUGETLB.page_sizes.include?(size)
        raise ArgumentError, "no #{size} huge pages here (#{HUGETLB.page_sizes.join(', ')})"
      end
      "hugetlb.#{size}.#{version == 2 ? v2 : v1}"
    end

    def number(text)
      text == "max" ? -1 : text.to_i
    end
  end

  class MISC
    # Set the limit of one resource ("sev", "sev_es", ...; misc.capacity at
    # the root lists them); -1 = no limit.
    def set_max(resource, count)
      raise TypeError, "count must be an Integer" unless count.is_a?(Integer)
      raise RangeError, "count must be >= -1, got #{count}" if count < -1

      write_file("misc.max", "#{resource} #{count == -1 ? 'max' : count}")
      self
    end
  end
end
