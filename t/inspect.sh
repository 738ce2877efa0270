# t/inspect.sh - cnninspect's views of a checkpoint: the histograms of the
# summary and of --json, --tensor in the text, CSV and .npy formats, the
# conv2d filters as images (--filters), the learning curves as SVG (--plot),
# --diff, and every error path (exit status and the one-line message).
. "$top_srcdir/t/lib.sh"

# The tool's exit status and its stderr, as "STATUS:MESSAGE".
inspect() {
	run cnninspect "$@" >"$tmp/out" 2>"$tmp/err"
	echo "$?:$(cat "$tmp/err")"
}

# fails STATUS REGEX NAME ARGS...: cnninspect ARGS exits with STATUS and
# one line on stderr that matches REGEX.
fails() {
	_want=$1 _re=$2 _name=$3
	shift 3
	run cnninspect "$@" >"$tmp/out" 2>"$tmp/err"
	_st=$?
	grep -q -- "$_re" "$tmp/err"
	is "$_st:$(lines "$tmp/err"):$?" "$_want:1:0" "$_name"
}

# A few bytes of a file from offset $2, $3 long, as hexadecimal pairs.
bytes() {
	od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# Small training settings for the extra models.
TINY="--set training.epochs=1 --set data.train.limit=200 --set data.test.limit=100"

# On a terminal (script(1) gives one, where a pseudo-terminal can be had).
if tty_missing >/dev/null; then
	skip 1 "$(tty_missing)"
else
	built tools/cnninspect
	script -qec "env $exe_env $CNN_WRAP $exe_prog --tensor dense1.bias --format npy $top_srcdir/t/data/v1.ckpt.gz" \
		/dev/null </dev/null >"$tmp/tty" 2>&1
	st=$?
	is "$st:$(tr -d '\r' <"$tmp/tty")" \
		"2:cnninspect: --format npy: standard output is a terminal; redirect it to a file" \
		"npy to a terminal: refused with exit 2 and one line, nothing written"
fi
# CNN_TTY_ONLY=1: the terminal points only (t/no_tty.sh).
if [ -n "${CNN_TTY_ONLY:-}" ]; then
	done_testing
	exit
fi

run cnnrun $QUICK -q -o "$tmp/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
ok $? "one epoch of the reference model trains"
ck=$tmp/c.ckpt.gz
tensors="conv2d1.weight dense1.weight dense1.bias dense2.weight dense2.bias"

run cnninspect --help >"$tmp/out" 2>&1
ok $? "--help exits 0"
for o in '--format FMT' '--filters DIR' '--zoom Z' '--image-format F' '--plot FILE' '--diff A.gz B.gz'; do
	grep -q -- "$o" "$tmp/out"
	ok $? "--help lists $o"
done
grep -q '\[16\]' "$tmp/out" && grep -q '\[text\]' "$tmp/out"
ok $? "--help gives the defaults in brackets"

# ---------------------------------------------------------------------------
# Histograms
run cnninspect "$ck" >"$tmp/sum" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "0:0" "the summary: exit 0, nothing on stderr"
for t in $tensors; do
	grep -A1 "^  $t " "$tmp/sum" | tail -n 1 |
		grep -q '^    histogram |[ .:=+*#%@-]\{24\}| 24 bins of [0-9.e-]* from [0-9.e-]* to [0-9.e-]*, fullest [1-9][0-9]*$'
	ok $? "the summary has a histogram line after $t's statistics"
done
is "$(grep -c '^    histogram |.*@' "$tmp/sum")" 5 "every histogram marks its fullest bin with @"

run cnninspect --json "$ck" >"$tmp/json" 2>"$tmp/err"
ok $? "--json exits 0"
for k in '"format_version": 3' '"model": {' '"tensors": \[' '"training": {' '"history": \['; do
	grep -q "^  $k" "$tmp/json"
	ok $? "--json still has $k"
done
grep -q '"size": 50, "min": [0-9.e-]*, "max": [0-9.e-]*, "mean": [0-9.e-]*, "std": [0-9.e-]*, "histogram": {"min": [0-9.e-]*, "max": [0-9.e-]*, "counts": \[' "$tmp/json"
ok $? "--json: the histogram follows the statistics"
# Every tensor line: its size, then the sum and number of its counts.
awk '/"histogram"/ {
	s = $0; sub(/.*"size": /, "", s); sub(/,.*/, "", s)
	c = $0; sub(/.*"counts": \[/, "", c); sub(/\].*/, "", c)
	n = split(c, v, ", "); sum = 0
	for (i = 1; i <= n; i++) sum += v[i]
	print s, sum, n
}' "$tmp/json" >"$tmp/sums"
is "$(lines "$tmp/sums")" 5 "--json: a histogram for each of the 5 tensors"
is "$(awk '$1 != $2 || $3 != 24' "$tmp/sums")" "" "--json: 24 counts per tensor, summing to its size"
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/json"
	ok $? "--json is valid JSON (python3)"
fi

# ---------------------------------------------------------------------------
# --tensor --format text, csv, npy
for t in $tensors; do
	run cnninspect --tensor "$t" "$ck" >"$tmp/$t.txt" 2>&1
done
run cnninspect --tensor conv2d1.weight --format text "$ck" >"$tmp/out" 2>"$tmp/err"
cmp -s "$tmp/out" "$tmp/conv2d1.weight.txt"
ok $? "--format text is the default output"
is "$(head -n 1 "$tmp/out")" "conv2d1.weight 2x1x5x5" "text: the name and shape first"

for t in $tensors; do
	run cnninspect --tensor "$t" --format csv "$ck" >"$tmp/$t.csv" 2>"$tmp/err"
	tr ',' '\n' <"$tmp/$t.csv" >"$tmp/$t.csv1"
	tail -n +2 "$tmp/$t.txt" | cmp -s - "$tmp/$t.csv1"
	ok $? "--format csv: $t's values are the text values"
done
is "$(awk -F, '{ print NF }' "$tmp/conv2d1.weight.csv" | sort -u):$(lines "$tmp/conv2d1.weight.csv")" "5:10" \
	"csv: a 2x1x5x5 weight is 10 rows (filter, channel, row) of 5 columns"
is "$(awk -F, '{ print NF }' "$tmp/dense1.weight.csv" | sort -u):$(lines "$tmp/dense1.weight.csv")" "288:60" \
	"csv: a 60x288 weight is 60 rows of 288 columns"
is "$(awk -F, '{ print NF }' "$tmp/dense1.bias.csv"):$(lines "$tmp/dense1.bias.csv")" "60:1" \
	"csv: a vector of 60 is one row"

run cnninspect --tensor conv2d1.weight --format npy "$ck" >"$tmp/w.npy" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "0:" "--format npy: exit 0, nothing on stderr"
is "$(bytes "$tmp/w.npy" 0 10)" "93 4e 55 4d 50 59 01 00 76 00" \
	"npy: the magic, version 1.0 and a header of 118 bytes"
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 5, 5), }"
is "$(dd if="$tmp/w.npy" bs=1 skip=10 count=${#hdr} 2>/dev/null)" "$hdr" "npy: the header dict"
is "$(bytes "$tmp/w.npy" $((10 + ${#hdr})) $((118 - ${#hdr})) | tr -d ' ')" \
	"$(printf '%*s' $((117 - ${#hdr})) '' | sed 's/ /20/g')0a" "npy: the header padded with spaces to 128 bytes, then a newline"
is "$(wc -c <"$tmp/w.npy" | tr -d ' ')" $((128 + 4 * 50)) "npy: 50 float32 values after the header"
run cnninspect --tensor dense1.bias --format npy "$ck" >"$tmp/b.npy" 2>"$tmp/err"
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (60,), }"
is "$(dd if="$tmp/b.npy" bs=1 skip=10 count=${#hdr} 2>/dev/null)" "$hdr" "npy: a vector's shape is (60,)"
# The values, read back: with numpy if a python3 has it, else with struct.
py=
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1; then
		[ -n "$py" ] || py=$p
		if "$p" -c 'import numpy' >/dev/null 2>&1; then
			py=$p
			break
		fi
	fi
done
if [ -n "$py" ]; then
	"$py" - "$tmp" >"$tmp/npy.txt" 2>&1 <<'EOF'
import ast, struct, sys
d = sys.argv[1]
for name in ("w", "b"):
    path = "%s/%s.npy" % (d, name)
    try:
        import numpy
        a = numpy.load(path)
        assert a.dtype == numpy.dtype("<f4")
        shape, values = a.shape, [float(x) for x in a.ravel()]
    except ImportError:
        raw = open(path, "rb").read()
        n = struct.unpack("<H", raw[8:10])[0]
        h = ast.literal_eval(raw[10:10 + n].decode("latin1"))
        assert h["descr"] == "<f4" and h["fortran_order"] is False
        shape = h["shape"]
        body = raw[10 + n:]
        values = list(struct.unpack("<%df" % (len(body) // 4), body))
    print("x".join(str(s) for s in shape))
    for v in values:
        print("%.9g" % v)
EOF
	{ sed -n '1s/.* //p; 2,$p' "$tmp/conv2d1.weight.txt"; sed -n '1s/.* //p; 2,$p' "$tmp/dense1.bias.txt"; } >"$tmp/want.txt"
	cmp -s "$tmp/npy.txt" "$tmp/want.txt"
	ok $? "npy: read back ($("$py" -c 'import numpy' 2>/dev/null && echo numpy.load || echo struct)), the shapes and values are those of the text output"
fi

if [ -w /dev/full ]; then
	run cnninspect --tensor dense1.weight --format npy "$ck" >/dev/full 2>"$tmp/err"
	is "$?:$(cat "$tmp/err")" "1:cnninspect: cannot write the output" "npy to a full disk: exit 1, one line"
fi

# ---------------------------------------------------------------------------
# --filters
run cnninspect --filters "$tmp/f" "$ck" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "0:" "--filters: exit 0, nothing on stderr"
ext=$(sed -n '1s/.*\.\(p[gn][gm]\): .*/\1/p' "$tmp/out")
is "$(cat "$tmp/out")" "$tmp/f/conv2d1_f0.$ext: 80x80
$tmp/f/conv2d1_f1.$ext: 80x80" "--filters prints the 2 files written, 80x80 at zoom 16"
is "$(ls "$tmp/f" | tr '\n' ' ')" "conv2d1_f0.$ext conv2d1_f1.$ext " "--filters writes 2 files for 2 filters"
if [ "$ext" = png ]; then
	is "$(bytes "$tmp/f/conv2d1_f0.png" 0 8)" "89 50 4e 47 0d 0a 1a 0a" "the default is PNG when libcnn has libpng"
	is "$(bytes "$tmp/f/conv2d1_f0.png" 16 10)" "00 00 00 50 00 00 00 50 08 00" "PNG: 80x80, 8-bit greyscale"
	run cnninspect --filters "$tmp/g" --image-format png --zoom 2 "$ck" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(tail -n 1 "$tmp/out")" "0:$tmp/g/conv2d1_f1.png: 10x10" "--image-format png --zoom 2"
	is "$(bytes "$tmp/g/conv2d1_f1.png" 16 8)" "00 00 00 0a 00 00 00 0a" "... a 10x10 PNG"
	if command -v file >/dev/null 2>&1; then
		file "$tmp/f/conv2d1_f1.png" | grep -q 'PNG image data, 80 x 80, 8-bit grayscale'
		ok $? "file(1) sees an 80x80 greyscale PNG"
	fi
else
	is "$(inspect --filters "$tmp/g" --image-format png "$ck")" \
		"2:cnninspect: --image-format png: this libcnn was built without libpng (use pgm)" \
		"--image-format png without libpng: exit 2, one line"
	test ! -e "$tmp/g"
	ok $? "... and no folder is created"
fi

run cnninspect --filters "$tmp/p/" --image-format pgm --zoom 1 "$ck" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/out")" "0:$tmp/p/conv2d1_f0.pgm: 5x5
$tmp/p/conv2d1_f1.pgm: 5x5" "--image-format pgm --zoom 1 (DIR with a trailing slash)"
is "$(head -c 11 "$tmp/p/conv2d1_f0.pgm" | tr '\n' ' ')" "P5 5 5 255 " "PGM: a binary P5 header"
is "$(wc -c <"$tmp/p/conv2d1_f0.pgm" | tr -d ' ')" 36 "PGM: 25 pixels after the header"
# The pixels: the layer's min..max mapped to 0..255 (within 1 for rounding).
for f in 0 1; do
	tail -c 25 "$tmp/p/conv2d1_f$f.pgm" | od -An -v -tu1 | tr -s ' \n' '\n' | sed '/^$/d' >"$tmp/px$f"
	tail -n +2 "$tmp/conv2d1.weight.txt" >"$tmp/wv"
	awk -v f=$f 'NR == FNR { v[NR] = $1; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1; next }
		{ want = int((v[f * 25 + FNR] - lo) / (hi - lo) * 255 + 0.5); d = $1 - want
		  if (d > 1 || d < -1) bad++ }
		END { print FNR == 25 && !bad ? "ok" : "bad" }' "$tmp/wv" "$tmp/px$f" >"$tmp/cmp$f"
	is "$(cat "$tmp/cmp$f")" ok "PGM filter $f: each weight's grey is (w - min) / (max - min) * 255"
done
cat "$tmp/px0" "$tmp/px1" | sort -n | sed -n '1p;$p' | tr '\n' ' ' >"$tmp/range"
is "$(cat "$tmp/range")" "0 255 " "the layer's min is black and its max white"

run cnninspect --filters "$tmp/z" --image-format pgm --zoom 3 "$ck" >"$tmp/out" 2>"$tmp/err"
is "$?:$(head -n 3 "$tmp/z/conv2d1_f1.pgm" | tr '\n' ' ')" "0:P5 15 15 255 " "--zoom 3: 15x15 images"

# Several input channels: lenet5's second conv2d has 16 filters of 6x5x5.
run cnnrun $TINY -q -o "$tmp/l.ckpt.gz" "$top_srcdir/models/lenet5.yaml" >/dev/null 2>&1
run cnninspect --filters "$tmp/l" --image-format pgm --zoom 1 "$tmp/l.ckpt.gz" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/out"):$(grep -c ': 35x5$' "$tmp/out")" "0:22:16" \
	"lenet5: 6 + 16 images, those of 6 channels 6 * 5 + 5 gaps wide"
tail -c 175 "$tmp/l/conv2d2_f3.pgm" | od -An -v -tu1 | tr -s ' \n' '\n' | sed '/^$/d' |
	awk '(NR - 1) % 35 % 6 == 5 && $1 != 255 { bad++ } END { print NR, bad + 0 }' >"$tmp/gaps"
is "$(cat "$tmp/gaps")" "175 0" "the channel tiles are 1 white cell apart"

run cnnrun $TINY -q -o "$tmp/mlp.ckpt.gz" "$top_srcdir/models/mlp.yaml" >/dev/null 2>&1
run cnninspect --filters "$tmp/m" "$tmp/mlp.ckpt.gz" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/out")$(cat "$tmp/err")" "0:$tmp/mlp.ckpt.gz: no conv2d layer, no filter image written" \
	"a model without conv2d: a note, exit 0"
test ! -e "$tmp/m"
ok $? "... and no folder is created"

is "$(inspect --filters /dev/null/f "$ck")" "1:cnninspect: /dev/null/f: cannot create the folder: Not a directory" \
	"--filters into an impossible place: exit 1, one line naming it"
: >"$tmp/file"
is "$(inspect --filters "$tmp/file" "$ck")" "1:cnninspect: $tmp/file: exists and is not a folder" \
	"--filters naming a file: exit 1, one line"
if [ "$(id -u)" != 0 ]; then
	mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
	fails 1 "$tmp/ro" "--filters into a read-only folder: exit 1, one line naming it" \
		--filters "$tmp/ro" "$ck"
	is "$(ls "$tmp/ro")" "" "... and no file is left in it"
	chmod 755 "$tmp/ro"
fi
is "$(inspect --filters "$tmp/q" --zoom 0 "$ck")" "2:cnninspect: --zoom: expected an integer from 1 to 256, got \"0\"" \
	"--zoom 0: exit 2, one line"
is "$(inspect --filters "$tmp/q" --zoom 2x "$ck")" "2:cnninspect: --zoom: expected an integer from 1 to 256, got \"2x\"" \
	"--zoom 2x: exit 2, one line"
is "$(inspect --filters "$tmp/q" --image-format gif "$ck")" "2:cnninspect: --image-format: expected png or pgm, got \"gif\"" \
	"--image-format gif: exit 2, one line"
is "$(inspect --zoom 4 "$ck")" "2:cnninspect: --zoom needs --filters DIR (see --help)" \
	"--zoom without --filters: exit 2"
is "$(inspect --image-format pgm "$ck")" "2:cnninspect: --image-format needs --filters DIR (see --help)" \
	"--image-format without --filters: exit 2"
test ! -e "$tmp/q"
ok $? "no folder is created on a usage error"

# ---------------------------------------------------------------------------
# --plot
run cnninspect --plot "$tmp/curves.svg" "$ck" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/out")$(cat "$tmp/err")" "0:$tmp/curves.svg: learning curves of 1 epoch" "--plot: exit 0, one line"
grep -q '<svg' "$tmp/curves.svg"
ok $? "--plot writes an SVG document"
grep -q 'mnist_cnn' "$tmp/curves.svg"
ok $? "... titled with the model's name"
if command -v xmllint >/dev/null 2>&1; then
	xmllint --noout "$tmp/curves.svg"
	ok $? "xmllint accepts the SVG"
fi
fails 1 "^cnninspect: $tmp/missing/c.svg: " "--plot into a missing folder: exit 1, one line naming the file" \
	--plot "$tmp/missing/c.svg" "$ck"
test ! -e "$tmp/missing"
ok $? "... and nothing is written"

# ---------------------------------------------------------------------------
# --diff reports the largest absolute difference of every tensor
run cnninspect --diff "$ck" "$ck" >"$tmp/out" 2>"$tmp/err"
is "$?:$(tail -n 1 "$tmp/out" | sed 's/ (.*//')" "0:$ck and $ck: identical" "--diff of a checkpoint with itself"
run cnnrun $QUICK -q --set training.seed=2 -o "$tmp/s2.ckpt.gz" "$MODEL" >/dev/null 2>&1
run cnninspect --diff "$ck" "$tmp/s2.ckpt.gz" >"$tmp/out" 2>"$tmp/err"
ok $? "--diff of two seeds exits 0"
grep -q '^tensor  *role  *max |a-b|  *differing$' "$tmp/out"
ok $? "--diff has a max |a-b| column"
is "$(grep -c '^[a-z0-9]*\.[a-z]* *weight  *[0-9.e-]*[1-9][0-9.e-]*  *[1-9][0-9]*$' "$tmp/out")" 5 \
	"--diff: a non-zero largest difference for each of the 5 tensors"

# ---------------------------------------------------------------------------
# Usage errors
is "$(inspect --format csv "$ck")" "2:cnninspect: --format needs --tensor NAME (see --help)" \
	"--format without --tensor: exit 2, one line"
is "$(inspect --tensor dense1.bias --format xml "$ck")" "2:cnninspect: --format: expected text, csv or npy, got \"xml\"" \
	"a bad --format: exit 2, one line"
is "$(inspect --tensor dense1.bias --format)" "2:cnninspect: option '--format' needs an argument (see --help)" \
	"--format without a value: exit 2, one line"
is "$(inspect --tensor nosuch --format csv "$ck")" \
	"2:cnninspect: no tensor \"nosuch\" in $ck (tensors: conv2d1.weight, dense1.weight, dense1.bias, dense2.weight, dense2.bias)" \
	"--format csv on a missing tensor: exit 2, the tensors listed"
is "$(inspect --plot "$tmp/x.svg" --filters "$tmp/x" "$ck")" \
	"2:cnninspect: --json, --tensor, --diff, --filters and --plot exclude each other" \
	"--plot and --filters together: exit 2, one line"
test ! -e "$tmp/x.svg" && test ! -e "$tmp/x"
ok $? "... and nothing is written"
fails 1 "^cnninspect: $tmp/missing.ckpt.gz: " "--filters on a missing checkpoint: exit 1, one line naming it" \
	--filters "$tmp/x" "$tmp/missing.ckpt.gz"
test ! -e "$tmp/x"
ok $? "... and no folder is created"

done_testing
