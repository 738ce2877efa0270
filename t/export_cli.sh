# t/export_cli.sh - cnnexport from the command line: --help and --version,
# the format from the extension or --format, and every error path (its
# exit status and its one line), none of which leaves a file behind.
. "$top_srcdir/t/lib.sh"

# fails STATUS LINE NAME ARGS...: cnnexport ARGS exits with STATUS and
# prints LINE alone on stderr.
fails() {
	_want=$1 _line=$2 _name=$3
	shift 3
	run cnnexport "$@" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(cat "$tmp/err")" "$_want:$_line" "$_name"
}

run cnnexport --help >"$tmp/out" 2>&1
ok $? "--help exits 0"
grep -q -- '--format FMT' "$tmp/out" && grep -q '\[from the output' "$tmp/out"
ok $? "--help lists --format with its default"
run cnnexport --version >"$tmp/out" 2>&1
grep -q '^cnnexport (libcnn) [0-9]' "$tmp/out"
ok $? "--version names the version"

run cnnrun $QUICK -q -o "$tmp/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1
ok $? "a checkpoint to export"
ck=$tmp/c.ckpt.gz

# The format: from the extension, or --format whatever the name.
run cnnexport "$ck" -o "$tmp/m.onnx" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/out" "$tmp/err")" "0:" ".onnx: exit 0, nothing printed"
head -c 2 "$tmp/m.onnx" | od -An -tx1 | grep -q '08 07'
ok $? ".onnx: an ONNX model (its first field is ir_version 7)"
run cnnexport "$ck" -o "$tmp/m.c" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/out" "$tmp/err")" "0:" ".c: exit 0, nothing printed"
grep -q 'int mnist_cnn_predict(const float \*input, float \*probabilities' "$tmp/m.c"
ok $? ".c: C source with mnist_cnn_predict"
run cnnexport "$ck" --format c -o "$tmp/model.txt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(grep -c '^int mnist_cnn_predict(const float \*input, float \*probabilities, float \*workspace)$' "$tmp/model.txt")" "0:1" \
	"--format c whatever the extension"
run cnnexport -f onnx "$ck" -o "$tmp/model.bin" >"$tmp/out" 2>"$tmp/err"
cmp -s "$tmp/model.bin" "$tmp/m.onnx"
ok $? "-f onnx writes the same bytes as .onnx (the export is deterministic)"
ls "$tmp" | grep -q '\.tmp\.'
ok $((!$?)) "no temporary file is left beside the outputs"

# Usage errors: exit 2, one line, no file.
fails 2 "cnnexport: missing CKPT.gz (see cnnexport --help)" "no checkpoint" -o "$tmp/x.onnx"
fails 2 "cnnexport: missing -o FILE (see cnnexport --help)" "no -o" "$ck"
fails 2 "cnnexport: unexpected argument 'extra' (see cnnexport --help)" \
	"two operands" "$ck" extra -o "$tmp/x.onnx"
fails 2 "cnnexport: cannot tell the format from the name '$tmp/x.pb': end it in .onnx or .c, or give --format onnx|c (see cnnexport --help)" \
	"an unknown extension" "$ck" -o "$tmp/x.pb"
fails 2 "cnnexport: cannot tell the format from the name '$tmp/x': end it in .onnx or .c, or give --format onnx|c (see cnnexport --help)" \
	"no extension" "$ck" -o "$tmp/x"
fails 2 "cnnexport: unknown format 'tflite': onnx or c (see cnnexport --help)" \
	"an unknown --format" "$ck" --format tflite -o "$tmp/x.onnx"
fails 2 "cnnexport: unknown option '--frobnicate' (see cnnexport --help)" \
	"an unknown option" --frobnicate "$ck" -o "$tmp/x.onnx"
fails 2 "cnnexport: option '-o' needs a value (see cnnexport --help)" \
	"-o without a value" "$ck" -o
fails 2 "cnnexport: $MODEL is a model description, not a checkpoint; train it with cnnrun $MODEL" \
	"a model description given as the checkpoint" "$MODEL" -o "$tmp/x.onnx"
test ! -e "$tmp/x.onnx" && test ! -e "$tmp/x.pb" && test ! -e "$tmp/x"
ok $? "no output file after a usage error"

# Runtime errors: exit 1, one line, no file (and an existing one kept).
fails 1 "cnnexport: $tmp/missing.gz: cannot open checkpoint: No such file or directory" \
	"a missing checkpoint" "$tmp/missing.gz" -o "$tmp/x.onnx"
head -c 2000 "$ck" >"$tmp/cut.gz"
run cnnexport "$tmp/cut.gz" -o "$tmp/x.onnx" >"$tmp/out" 2>"$tmp/err"
st=$?
is "$st:$(lines "$tmp/err")" "1:1" "a truncated checkpoint: exit 1, one line"
grep -q "^cnnexport: $tmp/cut.gz: " "$tmp/err"
ok $? "a truncated checkpoint: the line names the file"
test ! -e "$tmp/x.onnx"
ok $? "no output file after a bad checkpoint"
mkdir "$tmp/dir.onnx"
fails 1 "cnnexport: $tmp/dir.onnx: cannot write exported model: not a regular file" \
	"an output that is a folder" "$ck" -o "$tmp/dir.onnx"
fails 1 "cnnexport: $tmp/nodir/x.onnx: cannot write exported model: No such file or directory" \
	"an output in a missing folder" "$ck" -o "$tmp/nodir/x.onnx"
if [ "$(id -u)" != 0 ]; then
	mkdir "$tmp/ro" && cp "$tmp/m.onnx" "$tmp/ro/m.onnx" && chmod a-w "$tmp/ro"
	run cnnexport "$ck" -o "$tmp/ro/m.onnx" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(lines "$tmp/err")" "1:1" "a read-only folder: exit 1, one line"
	cmp -s "$tmp/ro/m.onnx" "$tmp/m.onnx"
	ok $? "a read-only folder: the existing file is kept as it was"
	chmod u+w "$tmp/ro"
else
	skip 2 "root can write a read-only folder"
fi

done_testing
