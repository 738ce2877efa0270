# t/export_c.sh - the C export (cnnexport CKPT -o MODEL.c) of every zoo
# model and of t/export's two (every layer kind; a model ending in sigmoid):
# the file includes only <math.h>, <stddef.h> and <string.h>; it builds
# alone and with the driver t/export_c_main.c (which includes it, NAME and
# the file given by -DNAME and -DMODEL_C) under
# -std=c99 -Wall -Wextra -pedantic -Werror, with the build's compiler and
# with clang, at -O0 and -O2; and its outputs for the first 100 MNIST test
# images agree with libcnn's (t/fwd_dump) within 1e-5. Under valgrind (when
# installed) the driver makes no error and allocates nothing.
. "$top_srcdir/t/lib.sh"

# The build's C compiler (the Makefile's CC), else cc.
CC=$(sed -n 's/^CC = //p' "$top_builddir/Makefile" | head -n 1)
: "${CC:=cc}"
FLAGS="-std=c99 -Wall -Wextra -pedantic -Werror"
if command -v clang >/dev/null 2>&1; then
	compilers="$CC clang"
	no_clang=
else
	compilers=$CC
	no_clang="clang is not installed"
fi
driver="$top_srcdir/t/export_c_main.c"
images="$MNIST/t10k-images-idx3-ubyte.gz"

# train ARGS... and fwd_dump ARGS...: cnnrun, and libcnn's own answers
# (t/fwd_dump, a test program), never under CNN_WRAP: they only make what
# the test needs (other tests run cnnrun under valgrind), and training six
# models under valgrind took minutes. cnnexport runs under it (run).
train() {
	unwrapped tools/cnnrun "$@"
}
fwd_dump() {
	unwrapped t/fwd_dump "$@"
}

# builds B CC OPT: the C file of model B builds alone and with the driver
# (into $tmp/B.drv) with compiler CC at OPT; the messages in $tmp/cc.err.
builds() {
	$2 $FLAGS $3 -c "$tmp/$1.c" -o "$tmp/$1.o" 2>"$tmp/cc.err" &&
		$2 $FLAGS $3 -DNAME="$name" "-DMODEL_C=\"$tmp/$1.c\"" \
			"$driver" -o "$tmp/$1.drv" -lm 2>>"$tmp/cc.err"
}

# agrees B CC OPT: a test point for compiler CC at OPT: the file builds and
# the driver finds every output within 1e-5 of libcnn's.
agrees() {
	if builds "$1" "$2" "$3"; then
		"$tmp/$1.drv" check "$tmp/$1.in" "$tmp/$1.probs" 100 \
			>"$tmp/diff" 2>&1
		_st=$?
	else
		_st=1
		sed 's/^/#   /' "$tmp/cc.err" | head -n 20
	fi
	ok $_st "$1: $2 $3: builds; every output within 1e-5 of libcnn's ($(cat "$tmp/diff" 2>/dev/null))"
	rm -f "$tmp/diff"
}

for yaml in "$top_srcdir"/models/*.yaml "$top_srcdir"/t/export/kinds.yaml \
	"$top_srcdir"/t/export/mse.yaml; do
	b=$(basename "$yaml" .yaml)
	# its data is a 2-class folder and it starts from lenet5's
	# checkpoint: t/finetune.sh trains it; its export is lenet5's
	[ "$b" = lenet5_finetune ] && continue
	ck=$tmp/$b.ckpt.gz
	train -q --set training.epochs=1 --set data.train.limit=256 \
		--set data.test.limit=100 -o "$ck" "$yaml" >"$tmp/out" 2>&1
	ok $? "$b: a checkpoint to export"
	fwd_dump "$ck" 100 "$tmp/$b.in" "$tmp/$b.probs" "$images" >"$tmp/out" 2>&1
	ok $? "$b: libcnn's outputs for 100 MNIST test images"
	run cnnexport "$ck" -o "$tmp/$b.c" >"$tmp/out" 2>&1
	ok $? "$b: cnnexport -o $b.c exits 0"
	sed 's/^/#   /' "$tmp/out"

	# The includes, wherever they are (even indented or spaced).
	inc=$(grep '^[[:space:]]*#[[:space:]]*include' "$tmp/$b.c" | tr -d ' \t' |
		sort | tr '\n' ' ')
	is "$inc" "#include<math.h> #include<stddef.h> #include<string.h> " \
		"$b: includes <math.h>, <stddef.h> and <string.h>, nothing else"

	# NAME, from the definition of NAME_predict; the workspace's size in
	# the macro and in the header comment.
	name=$(sed -n 's/^int \([A-Za-z0-9_]*\)_predict(const float \*input, float \*probabilities, float \*workspace)$/\1/p' \
		"$tmp/$b.c")
	floats=$(sed -n "s/^#define ${name}_WORKSPACE_FLOATS \([0-9]*\)\$/\1/p" "$tmp/$b.c")
	grep -q "^ \* Workspace: $floats floats ($((floats * 4)) bytes)" "$tmp/$b.c"
	ok $? "$b: ${name}_predict; the header gives the workspace, $floats floats"

	# The output: probabilities, or (mse) the last layer's outputs.
	if [ "$b" = mse ]; then
		want="the 10 outputs of the last layer, sigmoid1 (sigmoid)"
	else
		want="the 10 class probabilities (softmax)"
	fi
	grep -q "^ \* Output: $want" "$tmp/$b.c" &&
		grep -q '^ \* Classes: 0\.\.9\.$' "$tmp/$b.c"
	ok $? "$b: the header says the output is $want, classes 0..9"

	for cc in $compilers; do
		agrees "$b" "$cc" -O0
		agrees "$b" "$cc" -O2
	done
	[ -z "$no_clang" ] || skip 2 "$b: $no_clang"

	if ! command -v valgrind >/dev/null 2>&1; then
		skip 1 "$b: valgrind is not installed"
	elif builds "$b" "$CC" -O0; then
		valgrind --error-exitcode=1 "$tmp/$b.drv" check "$tmp/$b.in" \
			"$tmp/$b.probs" 10 >"$tmp/out" 2>"$tmp/vg"
		st=$?
		grep -q 'total heap usage: 0 allocs' "$tmp/vg" || st=1
		ok $st "$b: under valgrind, no error and no heap allocation"
		[ $st -eq 0 ] || sed 's/^/#   /' "$tmp/vg" | head -n 30
	else
		ok 1 "$b: builds for valgrind"
	fi
	rm -f "$tmp/$b".*
done

done_testing
