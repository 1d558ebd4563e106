#!/usr/bin/env bash
# Checks that the areas of core/src (its folders) include each other downwards only, in the layers
# below (docs/design.md, "Layers"), and draws the include graph between them. The libraries
# core/wire and core/mqtt are areas too (included as "parley/wire/...", "parley/mqtt/..."); that
# they include nothing of core/src the build itself enforces: their include roots hold only
# their own headers.
#
# It also checks that no CMakeLists.txt puts tests/unit on an include path: what other programs
# share of the tests is a library of tests/support with its own include root (docs/design.md,
# "Test support").
#
# usage: tools/check-layers.sh [--mermaid] [--pretend FILE:HEADER]... [--pretend-cmake LINE]
#   --mermaid  print the graph between areas as a Mermaid flowchart (docs/design.md shows it)
#   --pretend  check as if core/src/FILE also included "HEADER" (the suite uses it to see the
#              check refuse an upward include)
#   --pretend-cmake  check as if bench/CMakeLists.txt also held LINE (the suite uses it to see
#              the check refuse tests/unit on an include path)
# Exit status 1, naming each file, for an include that runs up a layer, for an area in no
# layer and for tests/unit on an include path.
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
src="$PARLEY_ROOT/core/src"

# Lowest first. An area may include its own layer's areas and those below. `parley` is the
# plugin ABI header (core/include/parley), below everything; so are `wire` (topics, error codes,
# the user's shard) and `mqtt` (the Paho plumbing), which parleyd shares with the clients.
layers=(
    "util parley wire mqtt"
    "log transport store"
    "protocol"
    "hooks"
    "chat"
    "extensions"
    "lua plugins"
    "ops"
    "dispatch"
    "handlers"
    "config"
    "server"
)

mermaid=0
pretend=()
pretend_cmake=()
while [ $# -gt 0 ]; do
    case $1 in
        --mermaid) mermaid=1; shift ;;
        --pretend) pretend+=("$2"); shift 2 ;;
        --pretend-cmake) pretend_cmake+=("$2"); shift 2 ;;
        *) echo "check-layers: unknown argument $1" >&2; exit 2 ;;
    esac
done

declare -A level=()
for i in "${!layers[@]}"; do
    for area in ${layers[$i]}; do
        level[$area]=$i
    done
done

# "file<TAB>area it includes" for every include of another area's header.
edges=$(
    cd "$src"
    grep -rEo '^#include "(parley/[a-z_]+/|[a-z_]+/)' --include='*.h' --include='*.cpp' . |
        sed -E 's|^\./||; s|:#include "parley/([a-z_]+)/$|\t\1|; s|:#include "([a-z_]+)/$|\t\1|' |
        grep '/' || true
    for entry in "${pretend[@]}"; do
        header=$(dirname "${entry#*:}")
        printf '%s\t%s\n' "${entry%%:*}" "${header#parley/}"
    done
)

problems=0
declare -A count=() seen=()
while IFS=$'\t' read -r file to; do
    [ -n "$file" ] || continue
    from=${file%%/*}
    [ "$from" != "$to" ] || continue
    count["$from $to"]=$((${count["$from $to"]:-0} + 1))
    for area in "$from" "$to"; do
        if [ -z "${level[$area]+set}" ] && [ -z "${seen[unknown $area]+set}" ]; then
            seen[unknown $area]=1
            echo "check-layers: core/src/$area is in no layer: add it to tools/check-layers.sh and docs/design.md" >&2
            problems=$((problems + 1))
        fi
    done
    [ -n "${level[$from]+set}" ] && [ -n "${level[$to]+set}" ] || continue
    if [ "${level[$to]}" -gt "${level[$from]}" ]; then
        echo "check-layers: core/src/$file includes $to/: $from (layer ${level[$from]}) may not include $to (layer ${level[$to]})" >&2
        problems=$((problems + 1))
    fi
done <<< "$edges"

# "file:line" for each CMakeLists.txt line that puts tests/unit on an include path.
reaches=$(
    cd "$PARLEY_ROOT"
    reach='^\s*(target_)?include_directories\(.*(tests/unit|\.\./unit)'
    git ls-files -- 'CMakeLists.txt' '*/CMakeLists.txt' | xargs grep -nE "$reach" || true
    for line in "${pretend_cmake[@]}"; do
        if grep -qE "$reach" <<< "$line"; then
            printf 'bench/CMakeLists.txt:0:%s\n' "$line"
        fi
    done
)
while IFS= read -r reach; do
    [ -n "$reach" ] || continue
    echo "check-layers: ${reach%%:*} puts tests/unit on an include path: link a library of tests/support instead (parley_test_doubles)" >&2
    problems=$((problems + 1))
done <<< "$reaches"

if [ $mermaid = 1 ]; then
    echo "flowchart BT"
    for edge in $(printf '%s\n' "${!count[@]}" | tr ' ' '>' | sort); do
        from=${edge%>*}
        to=${edge#*>}
        echo "    $from -->|${count["$from $to"]}| $to"
    done
fi

if [ $problems -gt 0 ]; then
    exit 1
fi
if [ $mermaid = 0 ]; then
    echo "check-layers: ${#count[@]} include arrows between areas, none upwards"
fi
