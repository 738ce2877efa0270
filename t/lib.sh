# t/lib.sh - shared by the shell tests: TAP output, a scratch folder, and a
# way to run the built programs (as libtool would, and under valgrind when
# `make check-valgrind` sets CNN_WRAP).
#
#   . "$top_srcdir/t/lib.sh"
#   run cnnrun --help >"$tmp/out" 2>"$tmp/err"; is $? 0 "help exits 0"
#   done_testing

: "${top_srcdir:=.}" "${top_builddir:=.}" "${LIBTOOL:=$top_builddir/libtool}"
: "${CNN_WRAP:=}"
MNIST="$top_srcdir/data/mnist"
MODEL="$top_srcdir/models/mnist_cnn.yaml"
tap_n=0
tap_failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnn-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# built PATH: sets $exe_env (VAR=VALUE) and $exe_prog so that `env
# "$exe_env" $CNN_WRAP "$exe_prog" ARGS...` runs the built program
# $top_builddir/PATH as `libtool --mode=execute` would: the program behind
# libtool's wrapper script, with the library path the wrapper sets. libtool
# works both out once per program and script, into $tmp (so that subshells
# share it): a libtool call costs 0.1-0.2 s, and some scripts run the tools
# hundreds of times.
built() {
	_f=$tmp/.built/$1
	if [ ! -f "$_f" ]; then
		mkdir -p "${_f%/*}" || exit 99
		_v=$(sed -n 's/^shlibpath_var=//p' "$LIBTOOL" | head -n 1)
		_n=$(mktemp "$_f.XXXXXX") || exit 99
		# the arguments libtool names as wrapper scripts become the programs
		$LIBTOOL --mode=execute sh -c 'eval "_x=\${$1-}"
			printf "%s\n" "$1=$_x" "$2"' sh "${_v:-CNN_NO_LIBRARY_PATH}" \
			"$top_builddir/$1" >"$_n" && mv "$_n" "$_f" || exit 99
	fi
	{ read -r exe_env && read -r exe_prog; } <"$_f"
}

# exe PATH ARGS...: runs the built program $top_builddir/PATH (under
# $CNN_WRAP when set).
exe() {
	built "$1"
	shift
	env "$exe_env" $CNN_WRAP "$exe_prog" "$@"
}

# unwrapped PATH ARGS...: the same, never under $CNN_WRAP (for the runs that
# only make a test's inputs).
unwrapped() {
	built "$1"
	shift
	env "$exe_env" "$exe_prog" "$@"
}

# run TOOL ARGS...: runs a built tool.
run() {
	_tool=$1
	shift
	exe "tools/$_tool" "$@"
}

# ok STATUS NAME: a test point that passes when STATUS is 0.
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		tap_failed=$((tap_failed + 1))
		echo "not ok $tap_n - $2"
	fi
}

# is GOT WANT NAME: passes when the two strings are equal.
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

# lines FILE: the number of lines in FILE.
lines() {
	wc -l <"$1" | tr -d ' '
}

# skip N REASON: N test points skipped for REASON.
skip() {
	_i=0
	while [ "$_i" -lt "$1" ]; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP $2"
		_i=$((_i + 1))
	done
}

# tty_missing: prints why no pseudo-terminal can be had for script(1) and
# fails, or succeeds silently when one can (a chroot without /dev/pts has
# script(1) but no terminal to give it). Probed once per test file.
tty_missing() {
	if [ -z "${tty_why+set}" ]; then
		tty_why=
		if ! command -v script >/dev/null 2>&1; then
			tty_why="script(1) is not installed"
		elif ! script -qec true /dev/null </dev/null >"$tmp/tty.probe" 2>&1; then
			tty_why="script(1) cannot open a pseudo-terminal: $(head -n 1 "$tmp/tty.probe")"
		fi
	fi
	[ -n "$tty_why" ] && echo "$tty_why"
}

# mnist_slice N: the first N (< 256) MNIST training images and labels as
# IDX files of their own, $tmp/images and $tmp/labels, so that a run does
# not decompress all 60,000 (slow under valgrind).
mnist_slice() {
	_b=$(printf '%03o' "$1")
	{ printf '\000\000\010\003\000\000\000'; printf "\\$_b"
	  printf '\000\000\000\034\000\000\000\034'
	  gzip -dc "$MNIST/train-images-idx3-ubyte.gz" | tail -c +17 | head -c $(($1 * 784))
	} >"$tmp/images" || exit 99
	{ printf '\000\000\010\001\000\000\000'; printf "\\$_b"
	  gzip -dc "$MNIST/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$1"
	} >"$tmp/labels" || exit 99
}

# same A B NAME: a test point that passes when checkpoints A and B hold the
# same tensors (weights, moments, best weights), bit for bit, and the same
# position.
same() {
	run cnninspect --diff "$1" "$2" >"$tmp/diff" 2>&1
	tail -n 1 "$tmp/diff" | grep -q ': identical ('
	_st=$?
	ok $_st "$3"
	[ $_st -eq 0 ] || sed 's/^/#   /' "$tmp/diff" | grep -v ' 0$' | head -n 8
}

# A quick training setting on a small slice of MNIST; a smaller one under
# valgrind, where a run is about 50 times slower (still three batches of
# 128, the last one partial).
QUICK="--set training.epochs=1 --set data.train.limit=1000 --set data.test.limit=500"
if [ -n "$CNN_WRAP" ]; then
	QUICK="--set training.epochs=1 --set data.train.limit=300 --set data.test.limit=100"
fi

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
