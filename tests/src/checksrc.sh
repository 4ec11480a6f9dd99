#!/bin/sh
# checksrc.sh - source rules the compiler does not enforce, checked by `make check` over the tree:
#  1. no strcpy, strcat, sprintf, vsprintf or gets in C sources: each needs a buffer size worked out by
#     hand; use snprintf, asprintf or open_memstream, which size the buffer themselves;
#  2. every plugin exports exactly one symbol, cs_plugin_entry (plugin.h: the one entry point; anything
#     else a plugin exports can collide with another plugin's or the daemon's names).
set -eu
top=${srcdir:-.}
status=0
banned=$(cd "$top" && grep -rnE --include='*.c' --include='*.h' \
    '(^|[^A-Za-z0-9_])(strcpy|strcat|sprintf|vsprintf|gets)[[:space:]]*\(' core lib plugins include tests bench || true)
if [ -n "$banned" ]; then
    echo "checksrc: banned string functions (use snprintf, asprintf or open_memstream):"
    echo "$banned"
    status=1
fi
for so in plugins/*/.libs/*.so; do
    [ -e "$so" ] || { echo "checksrc: no plugin built under plugins/*/.libs (run make first)"; exit 1; }
    extra=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ && $3 != "cs_plugin_entry" {print $3}')
    if [ -n "$extra" ] || ! nm -D --defined-only "$so" | grep -q ' T cs_plugin_entry$'; then
        echo "checksrc: $so must export cs_plugin_entry and nothing else; it exports:" $extra
        status=1
    fi
done
[ "$status" -ne 0 ] || echo "checksrc: ok (no banned calls; every plugin exports only cs_plugin_entry)"
exit "$status"
