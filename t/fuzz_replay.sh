# t/fuzz_replay.sh - replays the fuzzers' inputs through fuzz/replay_NAME,
# built with the normal compiler: the seed corpus fuzz/corpus/NAME and the
# inputs that once crashed, fuzz/regressions/NAME. Every input must run
# without a crash, an abort, a sanitizer report or (under `make
# check-valgrind`) a valgrind error. doc/fuzzing.md explains the fuzzers.
. "$top_srcdir/t/lib.sh"

for name in yaml checkpoint idx csv png image folder; do
	set -- "$top_srcdir/fuzz/corpus/$name"
	what="corpus/$name"
	if [ -d "$top_srcdir/fuzz/regressions/$name" ]; then
		set -- "$@" "$top_srcdir/fuzz/regressions/$name"
		what="$what and regressions/$name"
	fi
	exe "fuzz/replay_$name" \
		-v "$@" >"$tmp/out" 2>"$tmp/err"
	status=$?
	count=$(sed -n 's/^replayed \([0-9]*\) inputs$/\1/p' "$tmp/out")
	test "$status" -eq 0 && test "${count:-0}" -gt 0
	good=$?
	ok $good "fuzz/replay_$name: ${count:-no} inputs of $what"
	if [ $good -ne 0 ]; then
		echo "#   exit status $status; the last input run:"
		grep -v '^replayed ' "$tmp/out" | tail -n 1 | sed 's/^/#     /'
		head -n 20 "$tmp/err" | sed 's/^/#   /'
	fi
done

done_testing
