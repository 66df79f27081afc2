# The commands README gives.  Each installs what is missing first.
.PHONY: demo test check clean
demo:
	./tools/bootstrap >/dev/null && rake demo
test:
	./tools/bootstrap >/dev/null && rake test
# the host suite only, without the soak (about 25 s after a build); TESTS="test/attach.rb" for just those files
check:
	./tools/bootstrap >/dev/null && rake check TESTS="$(TESTS)"
clean:
	rm -rf build
