# t/example.sh - examples/classify.c, the embedding example: it classifies
# an MNIST digit as `cnnrun --predict` does, and reports errors in one line
# with cnnrun's exit statuses.
. "$top_srcdir/t/lib.sh"

# classify ARGS...: runs the example built by `make check`.
classify() {
	exe examples/classify "$@"
}

run cnnrun $QUICK -q -o "$tmp/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1
ok $? "a tiny checkpoint trains"

# The first MNIST test digit (a 7) as a binary PGM.
{ printf 'P5\n28 28\n255\n'
  gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 784; } >"$tmp/digit.pgm"

classify "$tmp/c.ckpt.gz" "$tmp/digit.pgm" >"$tmp/out" 2>"$tmp/err"
ok $? "classify exits 0"
is "$(lines "$tmp/err")" 0 "classify prints nothing on stderr"
is "$(lines "$tmp/out")" 1 "classify prints one line"
grep -q "^$tmp/digit.pgm: class [0-9] (probability [01]\.[0-9]\{4\})$" "$tmp/out"
ok $? "the line reads 'IMAGE: class C (probability P)'"

# The same class and probability as cnnrun --predict ("FILE: C P").
run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/digit.pgm" >"$tmp/pred" 2>&1
ok $? "cnnrun --predict on the same file"
want=$(sed -n "s|^$tmp/digit.pgm: \([0-9]*\) \([0-9.]*\)\$|class \1 (probability \2)|p" "$tmp/pred")
is "$(sed "s|^$tmp/digit.pgm: ||" "$tmp/out")" "$want" "classify agrees with cnnrun --predict"
want1=$want

# A second digit, as an ASCII PGM (P2): the same answer as cnnrun.
{ printf 'P2\n28 28\n255\n'
  gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | tail -c +801 | head -c 784 |
	od -An -v -tu1; } >"$tmp/two.pgm"
classify "$tmp/c.ckpt.gz" "$tmp/two.pgm" >"$tmp/out" 2>"$tmp/err"
ok $? "classify reads an ASCII PGM"
run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/two.pgm" >"$tmp/pred" 2>&1
want=$(sed -n "s|^$tmp/two.pgm: \([0-9]*\) \([0-9.]*\)\$|class \1 (probability \2)|p" "$tmp/pred")
is "$(sed "s|^$tmp/two.pgm: ||" "$tmp/out")" "$want" "and agrees with cnnrun --predict on it"

# Errors: one line on stderr, nothing on stdout, cnnrun's exit statuses.
{ printf 'P5\n10 10\n255\n'; head -c 100 /dev/zero; } >"$tmp/small.pgm"
classify "$tmp/c.ckpt.gz" "$tmp/small.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err"):$(lines "$tmp/out")" "2:1:0" "a 10x10 image: exit 2, one line"
is "$(cat "$tmp/err")" "$tmp/small.pgm: the image is 10x10 with 1 channel(s); the model expects 28x28 with 1 (nothing is resized)" \
	"the message names the file and both sizes"

classify "$tmp/missing.ckpt.gz" "$tmp/digit.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err"):$(lines "$tmp/out")" "1:1:0" "a missing checkpoint: exit 1, one line"
grep -q "^$tmp/missing.ckpt.gz: " "$tmp/err"
ok $? "the message names the checkpoint"

classify "$tmp/c.ckpt.gz" "$tmp/missing.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "a missing image: exit 1, one line"

printf 'P5\n28 28\n255\n' >"$tmp/short.pgm"
classify "$tmp/c.ckpt.gz" "$tmp/short.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "a truncated PGM: exit 2, one line"

head -c 100 "$tmp/c.ckpt.gz" >"$tmp/cut.ckpt.gz"
classify "$tmp/cut.ckpt.gz" "$tmp/digit.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "a truncated checkpoint: exit 1, one line"

classify "$tmp/c.ckpt.gz" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "a missing argument: exit 2, one line"
grep -q '^usage: classify CKPT.gz IMAGE.pgm\(|IMAGE.png\)\?$' "$tmp/err"
ok $? "the line is the usage"

# A PNG of the same digit (made by t/pgm2png with the library's writer)
# gives the same answer, when libcnn has libpng.
if unwrapped t/pgm2png "$tmp/digit.pgm" "$tmp/digit.png" \
	>/dev/null 2>&1; then
	classify "$tmp/c.ckpt.gz" "$tmp/digit.png" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(sed "s|^$tmp/digit.png: ||" "$tmp/out")" "0:$want1" "classify reads the digit as PNG"
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP no PNG support (or no t/pgm2png)"
fi

done_testing
