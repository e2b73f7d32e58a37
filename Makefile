# skiff - the two commands a newcomer needs are `make run` and `make test`.
# Everything is built by meson into build/ (and build-asan/, build-fuzz/).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: all build deps test test-unit run bench fuzz fuzz-build asan clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Every test layer: unit, conformance, e2e, then unit + conformance again
# under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on),
# then a short smoke run of every libFuzzer harness.
test: deps build asan fuzz-build
	tests/run.py --build $(BUILD) --asan-build $(ASAN_BUILD) --fuzz-build $(FUZZ_BUILD)

test-unit: build
	tests/run.py --build $(BUILD) --layer unit

# The main job: the agent on its embedded default, with an example app.
run: deps build
	scripts/run-demo

bench: deps build
	bench/run

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized

# Every libFuzzer harness for FUZZ_SECONDS each (a smoke run; longer runs:
# make fuzz FUZZ_SECONDS=600).
fuzz-build: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

fuzz: deps fuzz-build
	fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
