# t/output.sh - what cnnrun shows around training: the live progress bar on
# a terminal (run under script(1)) and the plain lines elsewhere, --quiet,
# the CSV metrics, the SVG learning curves, per-class scores of --evaluate,
# and PNG input for --predict.
. "$top_srcdir/t/lib.sh"

TINY="--set training.epochs=2 --set data.train.limit=1000 --set data.test.limit=500"

# term CMD...: runs a built tool with a terminal as stdin, stdout and stderr
# (script(1) records everything it prints into $tmp/tty).
term() {
	built "tools/$1"
	shift
	_cmd="env $exe_env $CNN_WRAP $exe_prog $*"
	script -qfec "stty cols 80 rows 24 2>/dev/null; $_cmd" /dev/null </dev/null >"$tmp/tty" 2>&1
}

# On a terminal: the bar is drawn in place, then erased before each epoch's
# line. 1000 samples in batches of 128 are 8 batches; the first and the last
# are always drawn.
if ! tty_missing >/dev/null; then
	term cnnrun $TINY -o "$tmp/t.ckpt.gz" "$MODEL"
	ok $? "training on a terminal exits 0"
	tr '\r' '\n' <"$tmp/tty" >"$tmp/tty.lines"
	grep -q '^epoch 1/2 \[#*\.*\] 1/8 [0-9.k]* img/s loss [0-9.]* train [0-9.]*% run ETA [0-9]*:[0-9][0-9]' "$tmp/tty.lines"
	ok $? "the bar after the first batch: epoch, bar, batches, img/s, loss, accuracy, the whole run's ETA"
	grep -q '^epoch 2/2 \[#*\.*\] [1-7]/8 .* train [0-9.]*% ETA [0-9]*:[0-9][0-9]' "$tmp/tty.lines"
	ok $? "the bar in the last epoch: the epoch's ETA"
	grep -q '^epoch 2/2 \[#*\] 8/8 .* evaluating' "$tmp/tty.lines"
	ok $? "the bar after the last batch is full and says the test set is evaluated"
	grep -q "$(printf '\033\\[K')epoch 1/2: loss [0-9.]*, train [0-9.]*%, test [0-9.]*%" "$tmp/tty.lines"
	ok $? "the bar is erased before the epoch's summary line"
	grep -q "^best accuracy" "$tmp/tty.lines"
	ok $? "the closing line stands on its own line"
	sed "s/$(printf '\033')\\[K//g" "$tmp/tty.lines" | awk 'length > 79' | grep -q 'img/s'
	ok $((!$?)) "the bar fits an 80-column terminal"

	term cnnrun $TINY --no-progress -o "$tmp/t.ckpt.gz" "$MODEL"
	ok $? "--no-progress on a terminal exits 0"
	grep -q 'img/s' "$tmp/tty"
	ok $((!$?)) "--no-progress: no bar"
	is "$(grep -c '^epoch [12]/2: loss' "$tmp/tty")" 2 "--no-progress: the epoch lines"

	term cnnrun $TINY -q -o "$tmp/t.ckpt.gz" "$MODEL"
	ok $? "--quiet on a terminal exits 0"
	is "$(wc -c <"$tmp/tty" | tr -d ' ')" 0 "--quiet on a terminal prints nothing"
else
	skip 12 "$(tty_missing)"
fi
# CNN_TTY_ONLY=1: the terminal points only (t/no_tty.sh).
if [ -n "${CNN_TTY_ONLY:-}" ]; then
	done_testing
	exit
fi

# Not a terminal (a pipe, a log): the plain lines only.
run cnnrun $TINY --metrics-csv "$tmp/m.csv" --plot "$tmp/curve.svg" \
	-o "$tmp/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
ok $? "training with --metrics-csv and --plot exits 0"
is "$(lines "$tmp/err")" 0 "nothing on stderr when it is not a terminal"
grep -q "$(printf '\r')" "$tmp/out" "$tmp/err"
ok $((!$?)) "no carriage return in the output"
is "$(grep -c '^epoch [12]/2: loss' "$tmp/out")" 2 "one line per epoch"
grep -q "^trained 2 epochs in [0-9]*\.[0-9] s; metrics: $tmp/m.csv; plot: $tmp/curve.svg\$" "$tmp/out"
ok $? "the closing line: the run's total time, the metrics and plot files"

# CSV metrics: a header, then a row per epoch; no validation split here.
is "$(head -n 1 "$tmp/m.csv")" "epoch,loss,train_accuracy,validation_accuracy,test_accuracy,seconds" \
	"--metrics-csv: the header"
is "$(grep -c '^[12],[0-9.e-]*,[0-9.e-]*,,[0-9.e-]*,[0-9.e-]*$' "$tmp/m.csv")" 2 \
	"--metrics-csv: one row per epoch, the validation cell empty"
run cnnrun --resume "$tmp/c.ckpt.gz" --set training.epochs=3 \
	--metrics-csv "$tmp/m.csv" --plot "$tmp/curve.svg" >"$tmp/out" 2>"$tmp/err"
ok $? "--resume with --metrics-csv"
is "$(lines "$tmp/m.csv"):$(grep -c '^epoch' "$tmp/m.csv")" "4:1" \
	"--resume appends a row and no second header"
is "$(tail -n 1 "$tmp/m.csv" | cut -d, -f1)" 3 "the appended row is epoch 3"
is "$(grep -c '^trained 1 epoch in [0-9]*\.[0-9] s; metrics: ' "$tmp/out")" 1 \
	"--resume: the closing line counts the epochs trained in this run"
run cnnrun $TINY --set data.validation=100 --metrics-csv "$tmp/v.csv" \
	-o "$tmp/v.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$(grep -c '^[12],[0-9.e-]*,[0-9.e-]*,[0-9.e-][0-9.e-]*,[0-9.e-]*,[0-9.e-]*$' "$tmp/v.csv")" 2 \
	"--metrics-csv: the validation accuracy when there is a split"

# The SVG: well-formed, with three epochs after the resume, renderable.
grep -q '<svg' "$tmp/curve.svg"
ok $? "--plot writes an SVG"
ls "$tmp" | grep -q '\.tmp\.'
ok $((!$?)) "--plot leaves no temporary file"
if command -v xmllint >/dev/null 2>&1; then
	xmllint --noout "$tmp/curve.svg" 2>"$tmp/xmlerr"
	ok $? "the SVG is well-formed XML"
else
	echo "ok $((tap_n + 1)) # SKIP xmllint is not installed"
	tap_n=$((tap_n + 1))
fi
if command -v rsvg-convert >/dev/null 2>&1; then
	rsvg-convert -o "$tmp/curve.png" "$tmp/curve.svg" && test -s "$tmp/curve.png"
	ok $? "the SVG renders (rsvg-convert)"
else
	echo "ok $((tap_n + 1)) # SKIP rsvg-convert is not installed"
	tap_n=$((tap_n + 1))
fi
run cnnrun $TINY --plot "$tmp/missing/curve.svg" -o "$tmp/p.ckpt.gz" "$MODEL" \
	>"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "--plot into a missing folder: exit 1, one line, before training"
grep -q "^$tmp/missing/curve.svg: " "$tmp/err"
ok $? "the message names the plot file"
test ! -e "$tmp/p.ckpt.gz" && ! grep -q '^epoch' "$tmp/out"
ok $? "nothing was trained or saved"
run cnnrun $TINY --metrics-csv "$tmp/missing/m.csv" -o "$tmp/p.ckpt.gz" "$MODEL" \
	>"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "--metrics-csv into a missing folder: exit 1, one line"
grep -q "^$tmp/missing/m.csv: cannot open metrics file: No such file or directory$" "$tmp/err"
ok $? "the message names the CSV file and the reason"
if [ -w /dev/full ]; then
	run cnnrun $TINY --metrics-csv /dev/full -o "$tmp/f.ckpt.gz" "$MODEL" \
		>"$tmp/out" 2>"$tmp/err"
	is "$?:$(lines "$tmp/err")" "1:1" "--metrics-csv /dev/full: exit 1, one line"
	grep -q "^/dev/full: cannot write metrics file: No space left on device (training stopped; $tmp/f.ckpt.gz holds the last epoch)$" "$tmp/err"
	ok $? "the message says the run stopped and where the last epoch is"
else
	for i in 1 2; do
		echo "ok $((tap_n + 1)) # SKIP /dev/full is not writable"
		tap_n=$((tap_n + 1))
	done
fi
run cnnrun --evaluate "$tmp/c.ckpt.gz" --plot "$tmp/e.svg" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "--plot with --evaluate: a usage error"

# --evaluate: per-class precision and recall, checked against the confusion
# matrix it prints.
run cnnrun --evaluate "$tmp/c.ckpt.gz" >"$tmp/out" 2>"$tmp/err"
ok $? "--evaluate exits 0"
is "$(grep -c '^ *[0-9]  *\([0-9]\.[0-9]\{4\}\|-\)  *\([0-9]\.[0-9]\{4\}\|-\)  *\([0-9]\.[0-9]\{4\}\|-\)  *[0-9][0-9]*$' "$tmp/out")" 10 \
	"--evaluate prints precision, recall, F1 and support for each of 10 classes"
awk '
	/^confusion matrix/ { m = 1; getline; next }
	m && NF == 11 { for (p = 0; p < 10; p++) { c[$1, p] = $(p + 2); row[$1] += $(p + 2); col[p] += $(p + 2) } }
	/^ *class  *precision/ { s = 1; next }
	s && NF == 5 { pr[$1] = $2; rc[$1] = $3; sup[$1] = $5 }
	/^confusion/ { s = 0 }
	END {
		bad = 0
		for (k = 0; k < 10; k++) {
			wp = col[k] ? sprintf("%.4f", c[k, k] / col[k]) : "-"
			wr = row[k] ? sprintf("%.4f", c[k, k] / row[k]) : "-"
			if (wp != pr[k] || wr != rc[k] || row[k] != sup[k]) bad++
		}
		exit bad
	}' "$tmp/out"
ok $? "precision, recall and support agree with the confusion matrix"
run cnnrun --evaluate "$tmp/c.ckpt.gz" --json >"$tmp/out" 2>"$tmp/err"
grep -q '"per_class": \[{"class": 0, "precision": [0-9.e-]*, "recall": [0-9.e-]*, "f1": [0-9.e-]*, "support": [0-9]*}' "$tmp/out"
ok $? "--evaluate --json has per_class"
is "$(grep -o '"class": ' "$tmp/out" | wc -l | tr -d ' ')" 10 "--evaluate --json: 10 classes"

# --predict: a PNG made from the first MNIST test digit gives what the PGM
# gives.
{ printf 'P5\n28 28\n255\n'
  gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | dd bs=16 skip=1 count=49 2>/dev/null; } >"$tmp/seven.pgm"
exe t/pgm2png "$tmp/seven.pgm" "$tmp/seven.png" 2>"$tmp/err"
if [ $? -eq 0 ]; then
	run cnnrun --predict "$tmp/c.ckpt.gz" --top 2 "$tmp/seven.pgm" >"$tmp/pgm.out" 2>&1
	run cnnrun --predict "$tmp/c.ckpt.gz" --top 2 "$tmp/seven.png" >"$tmp/png.out" 2>"$tmp/err"
	ok $? "--predict reads a PNG image"
	is "$(sed 's/^[^:]*: //' "$tmp/png.out")" "$(sed 's/^[^:]*: //' "$tmp/pgm.out")" \
		"the PNG gives the PGM's classes and probabilities"
	printf 'P5\n28 27\n255\n' >"$tmp/wide.pgm"
	head -c 756 /dev/zero >>"$tmp/wide.pgm"
	exe t/pgm2png "$tmp/wide.pgm" "$tmp/wide.png"
	run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/wide.png" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(cat "$tmp/err")" "2:$tmp/wide.png: image is 28x27; the model expects 28x28 (set resize: bilinear to scale it)" \
		"--predict refuses a PNG of another size"
	head -c 100 "$tmp/seven.png" >"$tmp/cut.png"
	run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/cut.png" >"$tmp/out" 2>"$tmp/err"
	st=$?
	is "$(lines "$tmp/err")" 1 "--predict of a truncated PNG: one line"
	test "$st" -ne 0 && grep -q "^$tmp/cut.png: " "$tmp/err"
	ok $? "a non-zero exit and the file named"
else
	grep -q 'without libpng' "$tmp/err"
	ok $? "without libpng, PNG writing says so"
	for i in 1 2 3 4 5; do
		echo "ok $((tap_n + 1)) # SKIP libcnn was built without libpng"
		tap_n=$((tap_n + 1))
	done
fi

done_testing
