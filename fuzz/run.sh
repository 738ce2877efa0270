#!/bin/sh
# fuzz/run.sh - runs one libFuzzer target for `make fuzz` and prints a
# one-line summary of its final statistics.
#
#   run.sh NAME SECONDS SRCDIR [LIBFUZZER-FLAGS...]
#
# Runs ./fuzz/fuzz_NAME (from the build tree, the current folder) for
# SECONDS on the work corpus fuzz/work/NAME (created; new inputs go there),
# with the seeds SRCDIR/fuzz/corpus/NAME and the regression inputs
# SRCDIR/fuzz/regressions/NAME as read-only extra folders. Crashes, leaks,
# timeouts and out-of-memory inputs are written to fuzz/artifacts/NAME/,
# the whole output to fuzz/NAME.log. Exit status 1 when the fuzzer found
# something (or could not run).
name=$1
seconds=$2
srcdir=$3
shift 3

prog=./fuzz/fuzz_$name
log=fuzz/$name.log
mkdir -p "fuzz/work/$name" "fuzz/artifacts/$name" || exit 1
set -- -max_total_time="$seconds" -print_final_stats=1 \
	-artifact_prefix="fuzz/artifacts/$name/" "$@" "fuzz/work/$name" \
	"$srcdir/fuzz/corpus/$name"
if [ -d "$srcdir/fuzz/regressions/$name" ]; then
	set -- "$@" "$srcdir/fuzz/regressions/$name"
fi
start=$(date +%s)
"$prog" "$@" >"$log" 2>&1
status=$?
elapsed=$(($(date +%s) - start))

# The final statistics, and the last status line ("#N DONE cov: ... ft:
# ... corp: N/SIZE ...") for the coverage.
final_stat() {
	sed -n "s/^stat::$1: *//p" "$log" | tail -n 1
}
last=$(grep '^#[0-9].*cov: ' "$log" | tail -n 1)
runs=$(final_stat number_of_executed_units)
rate=$(final_stat average_exec_per_sec)
cov=$(echo "$last" | sed -n 's/.* cov: *\([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.* ft: *\([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.* corp: *\([^ ]*\).*/\1/p')
found=$(ls "fuzz/artifacts/$name" | wc -l | tr -d ' ')
echo "fuzz_$name: ${runs:-?} runs (${rate:-?}/s) in ${elapsed} s, cov: ${cov:-?}, ft: ${ft:-?}, corpus ${corp:-?} (fuzz/work/$name), artifacts: $found"
if [ "$status" -ne 0 ]; then
	echo "fuzz_$name: FAILED (exit $status): see $log and fuzz/artifacts/$name/" >&2
	grep -m 3 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | sed "s/^/fuzz_$name:   /" >&2
	exit 1
fi
exit 0
