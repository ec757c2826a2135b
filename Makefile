# repq-hw: the two entry points the README gives, and the tools the tests need.
#   make demo   runs the whole flow on the embedded default model into out/demo (report.md)
#   make test   installs what the tests need (Verilator, Icarus Verilog, Yosys, and cmake and nasm
#               for the vendored libjpeg-turbo) and runs them all

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test deps build-deps

demo: build-deps
	$(CARGO) build --release
	scripts/flow.sh out/demo
	@cat out/demo/report.md

# cmake and nasm build the vendored libjpeg-turbo (turbojpeg-sys) that decodes JPEGs as Pillow.
build-deps:
	@missing=""; \
	for tool in cmake nasm; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

deps: build-deps
	@missing=""; \
	for tool in verilator iverilog yosys; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps
	$(CARGO) test --release
