#!/usr/bin/env bash
# A brief run of every fuzz target (docs/reliability.md#fuzzing), for CI: builds them with
# cargo-fuzz (installing it if it is missing), then runs each for FUZZ_SECS seconds (20 by
# default) from the committed seeds, and fails on the first crash, timeout or over-limit RSS.
# Works on a stable toolchain: sanitizer `none` needs no -Z flag. New corpus entries go to a
# temporary directory, never into the repository; inputs that once failed
# (regressions/<target>/) are run with the seeds; a failing input is kept in
# $FUZZ_ARTIFACTS (default target/fuzz-artifacts/<target>/) to be made a regression test.
#
#   crates/kluis-fuzz/run-brief.sh               # every target, 20 s each
#   FUZZ_SECS=600 crates/kluis-fuzz/run-brief.sh dpop   # one target, longer
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${FUZZ_SECS:-20}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
artifacts="${FUZZ_ARTIFACTS:-$target_dir/fuzz-artifacts}"
sanitizer="${FUZZ_SANITIZER:-none}"
toolchain=()
if [[ -n "${FUZZ_TOOLCHAIN:-}" ]]; then toolchain=("+$FUZZ_TOOLCHAIN"); fi

# Pinned: the version these scripts were written and run with.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

cd "$root"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    # Every target there is a file for; `cargo fuzz list` must name the same ones, or a target
    # would be left out without a word.
    mapfile -t targets < <(cd "$here/fuzz_targets" && ls -- *.rs | sed 's/\.rs$//')
    listed="$(cargo fuzz list --fuzz-dir "$here" | sort | tr '\n' ' ')"
    if [[ ${#targets[@]} -eq 0 || "$listed" != "$(printf '%s\n' "${targets[@]}" | sort | tr '\n' ' ')" ]]; then
        echo "FAIL: fuzz_targets/ has '${targets[*]}', cargo fuzz list says '$listed'" >&2
        exit 1
    fi
fi

start=$SECONDS
cargo "${toolchain[@]}" fuzz build --fuzz-dir "$here" -s "$sanitizer" --target-dir "$target_dir"
echo "built in $((SECONDS - start)) s"

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t" "$artifacts/$t"
    # Inputs that once failed are run first, with the seeds.
    regressions=()
    if [[ -d "$here/regressions/$t" ]]; then regressions=("$here/regressions/$t"); fi
    echo "== $t: ${secs} s"
    status=0
    cargo "${toolchain[@]}" fuzz run --fuzz-dir "$here" -s "$sanitizer" --target-dir "$target_dir" \
        "$t" "$corpus/$t" "$here/corpus-seeds/$t" "${regressions[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -artifact_prefix="$artifacts/$t/" -print_final_stats=1 >"$corpus/$t.log" 2>&1 || status=$?
    grep -E "^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)" "$corpus/$t.log" || true
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$corpus/$t.log" >&2
        echo "FAIL: $t (exit $status); the input is in $artifacts/$t/" >&2
        exit 1
    fi
done
echo "all ${#targets[@]} targets ran ${secs} s each without a failure ($((SECONDS - start)) s in all)"
