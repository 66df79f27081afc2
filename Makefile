# The two commands README gives.  Both install what is missing first.
.PHONY: demo test clean
demo:
	./tools/bootstrap >/dev/null && rake demo
test:
	./tools/bootstrap >/dev/null && rake test
clean:
	rm -rf build
