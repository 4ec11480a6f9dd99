#!/bin/sh
# run.sh [SECONDS] - fuzzes the configuration reader and checks (fuzz_config.c) with libFuzzer under
# ASan and UBSan for SECONDS (default 180), starting from the corpus kept beside this script plus the
# example configurations. Exits non-zero on a finding, whose input is left in build-fuzz/ (crash-*,
# leak-*, timeout-*): add it to tests/fuzz/corpus/ once fixed, and a test that reproduces it.
# New inputs of a run stay in build-fuzz/corpus; `build-fuzz/fuzz_config -merge=1 tests/fuzz/corpus
# build-fuzz/corpus` keeps the ones that add coverage. Needs clang with its libFuzzer runtime
# (tests/deps.sh installs them).
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
seconds=${1:-180}
out=$top/build-fuzz
mkdir -p "$out/corpus"
# version.h comes from configure: any configured build directory has it, else make one
inc=$(dirname "$(ls "$top"/build*/include/crmsync/version.h 2>/dev/null | head -1)" 2>/dev/null || true)
if [ -z "$inc" ] || [ ! -f "$inc/version.h" ]; then
    ./bootstrap >/dev/null 2>&1
    (cd "$out" && "$top/configure" -q >/dev/null)
    inc=$out/include/crmsync
fi
# shellcheck disable=SC2046
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=gnu11 -D_GNU_SOURCE \
    -Iinclude -I"$inc/../.." -Icore -Ilib tests/fuzz/fuzz_config.c core/config/*.c core/util/util.c core/util/log.c \
    core/util/yaml_emit.c \
    $(pkg-config --cflags --libs jansson yaml-0.1) -o "$out/fuzz_config"
cp conf/*.conf tests/fixtures/config/* "$out/corpus/"
cd "$out"
./fuzz_config -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    corpus "$top/tests/fuzz/corpus" >fuzz.log 2>&1 || { tail -60 fuzz.log; exit 1; }
grep -E '^stat::(number_of_executed_units|new_units_added)' fuzz.log
