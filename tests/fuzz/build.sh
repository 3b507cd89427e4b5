#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and, with --smoke, runs each for a few
# seconds over its corpus (seeded from tests/fuzz/corpus/<target>, with
# tests/fuzz/<target>.dict): a regression gate in the test command. Longer runs:
#   tests/fuzz/build.sh && tests/fuzz/out/fuzz_token -max_total_time=600 \
#     -dict=tests/fuzz/fuzz_token.dict tests/fuzz/out/corpus-fuzz_token tests/fuzz/corpus/fuzz_token
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/out
mkdir -p "$out"
CC=${CC_FUZZ:-clang}
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -Imod_jitprov/lib $(apr-1-config --includes --cppflags) $(apu-1-config --includes)
        $(pkg-config --cflags cjose jansson libcrypto libpcre2-8))
libs=($(apu-1-config --link-ld) $(apr-1-config --link-ld) $(pkg-config --libs cjose jansson libcrypto libpcre2-8))

declare -A srcs=(
  [fuzz_state]="mod_jitprov/lib/state.c mod_jitprov/lib/crypto.c mod_jitprov/lib/json.c"
  [fuzz_url]="mod_jitprov/lib/url.c"
  [fuzz_headers]="mod_jitprov/lib/headers.c"
  [fuzz_sessrec]="mod_jitprov/lib/sessrec.c"
  [fuzz_token]="mod_jitprov/lib/token.c mod_jitprov/lib/crypto.c mod_jitprov/lib/json.c"
  [fuzz_jwks]="mod_jitprov/lib/token.c mod_jitprov/lib/crypto.c mod_jitprov/lib/json.c"
  [fuzz_scim]="mod_jitprov/lib/json.c mod_jitprov/lib/scim.c mod_jitprov/lib/scim_filter.c mod_jitprov/lib/scim_patch.c mod_jitprov/lib/scim_resource.c"
  [fuzz_store]="mod_jitprov/lib/store_sql.c mod_jitprov/lib/store_cfg.c mod_jitprov/lib/store_prov.c mod_jitprov/lib/store_schema.c mod_jitprov/lib/claims.c mod_jitprov/lib/store_roles.c mod_jitprov/lib/roles.c mod_jitprov/lib/sync.c mod_jitprov/lib/json.c"
  [fuzz_roles]="mod_jitprov/lib/roles.c mod_jitprov/lib/sync.c mod_jitprov/lib/claims.c mod_jitprov/lib/json.c"
  [fuzz_forwarded]="mod_jitprov/lib/forwarded.c"
  [fuzz_formpost]="mod_jitprov/lib/formpost.c mod_jitprov/lib/url.c"
  [fuzz_json]="mod_jitprov/lib/json.c"
)
for t in "${!srcs[@]}"; do
  [ -f "tests/fuzz/$t.c" ] || continue
  # shellcheck disable=SC2086
  $CC "${cflags[@]}" "tests/fuzz/$t.c" ${srcs[$t]} -o "$out/$t" "${libs[@]}"
done

if [ "${1:-}" = --smoke ]; then
  secs=${FUZZ_SECONDS:-10}
  for t in "${!srcs[@]}"; do
    [ -x "$out/$t" ] || continue
    mkdir -p "$out/corpus-$t"
    # The committed seeds (tests/fuzz/make-corpus.py) start every run next to
    # the logic; the dictionary feeds the format's keywords.
    [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/"$t"/* "$out/corpus-$t"/ 2>/dev/null || true
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    echo "fuzz: $t for ${secs}s"
    "$out/$t" -max_total_time="$secs" -print_final_stats=0 "${dict[@]}" "$out/corpus-$t" > "$out/$t.log" 2>&1 ||
      { tail -40 "$out/$t.log"; echo "fuzz: $t FAILED"; exit 1; }
  done
  echo "fuzz: all targets ran clean"
fi
