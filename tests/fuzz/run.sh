#!/bin/sh
# run.sh [SECONDS] - fuzzes with libFuzzer under ASan and UBSan for SECONDS in all (default 180): two
# thirds for the configuration reader and checks (fuzz_config.c), starting from the corpus kept beside
# this script plus the example configurations, and one third for lib/json against jansson (fuzz_json.c),
# starting from the JSON files of the tree. Exits non-zero on a finding, whose input is left in build-fuzz/ (crash-*,
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
fuzz_cc() { # fuzz_cc NAME SOURCES... : build $out/NAME
    name=$1
    shift
    # shellcheck disable=SC2046
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=gnu11 -D_GNU_SOURCE \
        -Iinclude -I"$inc/../.." -Icore -Ilib "$@" $(pkg-config --cflags --libs jansson yaml-0.1) -o "$out/$name"
}
fuzz_run() { # fuzz_run NAME SECONDS CORPUS... : run $out/NAME, stop at a finding
    name=$1 time=$2
    shift 2
    (cd "$out" && "./$name" -max_total_time="$time" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$@" >"$name.log" 2>&1) || { tail -60 "$out/$name.log"; exit 1; }
    echo "$name:"
    grep -E '^stat::(number_of_executed_units|new_units_added)' "$out/$name.log"
}
fuzz_cc fuzz_config tests/fuzz/fuzz_config.c core/config/*.c core/util/util.c core/util/log.c core/util/yaml_emit.c
fuzz_cc fuzz_json tests/fuzz/fuzz_json.c lib/json/*.c
cp conf/*.conf tests/fixtures/config/* "$out/corpus/"
mkdir -p "$out/corpus-json"
i=0
for seed in '{"a":[1,-2.5e3,true,null],"b":{"c":"\u00e9\ud83d\ude00\n"}}' '[0.1,1e400,123456789012345678901]' \
    '"\u0000"' '{"@odata.etag":"W/\"1\"","x":""}' '[[[[]]]]' '{"k":1,"k":2}'; do
    i=$((i + 1))
    printf '%s' "$seed" >"$out/corpus-json/seed$i"
done
fuzz_run fuzz_config $((seconds * 2 / 3)) corpus "$top/tests/fuzz/corpus"
fuzz_run fuzz_json $((seconds - seconds * 2 / 3)) corpus-json
