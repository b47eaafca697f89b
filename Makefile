# Thin wrapper: the build is CMake's. `make test` and `make demo` are the README's two commands.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: deps build test demo demo-stop asan-test bench clean smoke packages packages-lint systemd-root systemd-check

deps:
	@bash scripts/bootstrap.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (CI runs this too).
asan-test: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVIGIL_WERROR=ON -DVIGIL_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target vigil_unit_tests
	@cd $(ASAN_BUILD) && ctest --output-on-failure -L unit --timeout 600

demo: build
	@bash scripts/demo.sh $(BUILD)/bin

demo-stop:
	@bash scripts/demo-stop.sh

smoke: build
	@bash ../shared/contract/smoke.sh $(BUILD)/bin

bench: build
	@bash tests/bench/run.sh $(BUILD)/bin

# vigil-agent and vigil-collector as .deb and .rpm in $(BUILD)/packages (docs/PACKAGING.md).
packages: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target vigil-agent vigil-collector vigilctl
	@rm -f $(BUILD)/packages/*.deb $(BUILD)/packages/*.rpm
	@cd $(BUILD) && cpack -G "DEB;RPM" >cpack.log 2>&1 || { cat cpack.log; exit 1; }
	@ls -1 $(BUILD)/packages/*.deb $(BUILD)/packages/*.rpm

# lintian, rpmlint and systemd-analyze verify on what `make packages` built; the findings left
# and why are in docs/PACKAGING.md.
packages-lint: packages
	@bash installers/linux/lint.sh $(BUILD)/packages

# The minimal Debian 12 root (debootstrap from the Debian archive, ~3 min once, cached outside the
# build) that the booted-systemd packaging tests boot with systemd-nspawn; without it `make test`
# skips them, loudly (docs/PACKAGING.md).
VIGIL_TEST_ROOT ?= /var/cache/vigil-test-root
systemd-root: deps
	@bash tests/packaging/test_root.sh create $(VIGIL_TEST_ROOT)

# The packaged units under a booted systemd, and the .rpms installed, upgraded and erased by rpm
# there. Run directly, not through ctest: here a skip (exit 77) is a failure.
systemd-check: systemd-root
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target vigil-agent vigil-collector vigilctl
	@VIGIL_TEST_ROOT=$(VIGIL_TEST_ROOT) bash tests/packaging/systemd_boot.sh $(BUILD)
	@VIGIL_TEST_ROOT=$(VIGIL_TEST_ROOT) bash tests/packaging/rpm_install.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Windows agent: cross-built with mingw-w64, packaged as an NSIS installer (docs/WINDOWS.md).
WIN_BUILD ?= build-win
.PHONY: windows windows-check
windows:
	@bash scripts/windows-build.sh $(WIN_BUILD)

# Not part of `make test`: installs Wine and runs the agent and the cross-built tests under it.
windows-check: windows
	@bash scripts/windows-check.sh $(WIN_BUILD)
