# t/tools.sh - cnnrun and cnninspect from the command line: training,
# metrics, resume, evaluation, prediction, determinism, usage errors.
. "$top_srcdir/t/lib.sh"

run cnnrun --help >"$tmp/out" 2>&1
ok $? "cnnrun --help exits 0"
grep -q -- '--set KEY=VALUE' "$tmp/out"
ok $? "cnnrun --help lists --set"
run cnnrun --version >"$tmp/out" 2>&1
ok $? "cnnrun --version exits 0"
grep -q '^cnnrun (libcnn) [0-9]' "$tmp/out"
ok $? "cnnrun --version names the version"

# Train one epoch on a slice of MNIST.
run cnnrun $QUICK -o "$tmp/c.ckpt.gz" --metrics "$tmp/m.jsonl" "$MODEL" \
	>"$tmp/out" 2>"$tmp/err"
ok $? "one epoch of the reference model trains"
is "$(lines "$tmp/err")" 0 "training prints nothing on stderr"
grep -q '^epoch 1/1: loss [0-9.]*, train [0-9.]*%, test [0-9.]*%' "$tmp/out"
ok $? "an epoch line with loss and accuracies"
test -s "$tmp/c.ckpt.gz"
ok $? "the checkpoint is written"
is "$(lines "$tmp/m.jsonl")" 1 "one metrics line per epoch"
grep -q '^{"epoch": 1, "loss": [0-9.e-]*, "train_accuracy": [0-9.e-]*, "test_accuracy": [0-9.e-]*, "seconds": [0-9.e-]*}$' "$tmp/m.jsonl"
ok $? "the metrics line has epoch, loss, train_accuracy, test_accuracy, seconds"
ls "$tmp" | grep -q '\.tmp\.'
ok $((!$?)) "no temporary file is left next to the checkpoint"

# A validation split held out of the training set.
run cnnrun $QUICK --set data.validation=0.2 -o "$tmp/v.ckpt.gz" --metrics "$tmp/v.jsonl" "$MODEL" \
	>"$tmp/out" 2>"$tmp/err"
ok $? "training with a validation split"
grep -q '^epoch 1/1: loss [0-9.]*, train [0-9.]*%, validation [0-9.]*%, test [0-9.]*%' "$tmp/out"
ok $? "the epoch line shows the validation accuracy"
grep -q '"validation_accuracy": [0-9.e-]*' "$tmp/v.jsonl"
ok $? "the metrics line has validation_accuracy"
run cnnrun $QUICK --set data.validation=1000 -o "$tmp/v.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "holding out every training sample: exit 2, one line"

# A file of the other kind: a model description where a checkpoint was
# expected, and a checkpoint where a description was.
for o in --evaluate --resume; do
	run cnnrun $o "$MODEL" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(cat "$tmp/err")" "2:cnnrun: $MODEL is a model description, not a checkpoint; train it with cnnrun $MODEL" \
		"cnnrun $o MODEL.yaml: exit 2, says it is a model description and how to train it"
done
run cnnrun --predict "$MODEL" "$tmp/none.png" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:cnnrun: $MODEL is a model description, not a checkpoint; train it with cnnrun $MODEL" \
	"cnnrun --predict MODEL.yaml: the same"
run cnninspect "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:cnninspect: $MODEL is a model description, not a checkpoint; train it with cnnrun $MODEL" \
	"cnninspect MODEL.yaml: the same"
run cnninspect --diff "$tmp/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:cnninspect: $MODEL is a model description, not a checkpoint; train it with cnnrun $MODEL" \
	"cnninspect --diff CKPT MODEL.yaml: the same for the second file"
run cnnrun "$tmp/c.ckpt.gz" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:cnnrun: $tmp/c.ckpt.gz is gzip data (a checkpoint?), not a model description; go on training it with cnnrun --resume $tmp/c.ckpt.gz, or test it with cnnrun --evaluate $tmp/c.ckpt.gz" \
	"cnnrun CKPT.gz: exit 2, suggests --resume and --evaluate"
printf 'not: [a model\n' >"$tmp/bad.yaml"
run cnninspect "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "1:cnninspect: $tmp/bad.yaml: not a libcnn checkpoint (not gzip-compressed)" \
	"cnninspect on other text: the checkpoint reader's own message"

# Inspect.
run cnninspect --json "$tmp/c.ckpt.gz" >"$tmp/json" 2>"$tmp/err"
ok $? "cnninspect --json reads the checkpoint"
tr -d ' \n' <"$tmp/json" >"$tmp/json1"
for t in '"conv2d1.weight","shape":\[2,1,5,5\]' '"dense1.weight","shape":\[60,288\]' \
	'"dense1.bias","shape":\[60\]' '"dense2.weight","shape":\[10,60\]' \
	'"dense2.bias","shape":\[10\]'; do
	grep -q "$t" "$tmp/json1"
	ok $? "cnninspect --json lists $t"
done

# Resume to two epochs: the history grows, the metrics file is appended to.
run cnnrun --resume "$tmp/c.ckpt.gz" --set training.epochs=2 \
	--metrics "$tmp/m.jsonl" >"$tmp/out" 2>"$tmp/err"
ok $? "--resume continues the run"
grep -q '^epoch 2/2' "$tmp/out"
ok $? "--resume starts at epoch 2"
is "$(lines "$tmp/m.jsonl")" 2 "--resume appends to the metrics file"

# Divergence: pixels scaled by 1e38 overflow to infinity, so the first batch
# of the next epoch has a NaN loss; cnnrun stops with exit 1 and one line,
# and the checkpoint keeps the last good epoch.
cp "$tmp/c.ckpt.gz" "$tmp/d.ckpt.gz"
run cnnrun --resume "$tmp/d.ckpt.gz" --set training.epochs=4 \
	--set data.train.scale=1e38 >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "a diverging run stops with exit 1 and one line"
grep -q "^$tmp/d.ckpt.gz: training diverged: the loss is NaN in epoch 3, batch 1; this checkpoint keeps the last good state$" "$tmp/err"
ok $? "the message names the checkpoint, the epoch and the batch"
cmp -s "$tmp/c.ckpt.gz" "$tmp/d.ckpt.gz"
ok $? "the checkpoint on disk is the last good one, unchanged"

# Divergence in the weights: Adam without bias correction moves every weight
# with a gradient by about 1.4 * learning_rate, so 3e38 overflows them all to
# infinity in the first step while the first loss is still finite.
run cnnrun $QUICK --set optimizer.learning_rate=3e38 -o "$tmp/w.ckpt.gz" "$MODEL" \
	>"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "weights overflowing to infinity: exit 1 and one line"
grep -q "^$tmp/w.ckpt.gz: training diverged: [a-z0-9]*\.\(weight\|bias\)\[[0-9]*\] is \(NaN\|infinite\) after epoch 1, batch 1; this checkpoint keeps the last good state$" "$tmp/err"
ok $? "the message names the weight, the epoch and the batch"
test ! -e "$tmp/w.ckpt.gz"
ok $? "nothing is saved from a diverged run"

# Evaluate.
run cnnrun --evaluate "$tmp/c.ckpt.gz" --set data.test.limit=300 >"$tmp/out" 2>"$tmp/err"
ok $? "--evaluate exits 0"
grep -q '^samples: 300$' "$tmp/out" && grep -q '^accuracy: 0\.[0-9]* (' "$tmp/out"
ok $? "--evaluate prints samples and accuracy"
is "$(grep -c '^ *[0-9]\( *[0-9][0-9]*\)\{10\}$' "$tmp/out")" 10 "--evaluate prints a 10x10 confusion matrix"
run cnnrun --evaluate "$tmp/c.ckpt.gz" --json --set data.test.limit=300 >"$tmp/out" 2>"$tmp/err"
grep -q '^{"samples": 300, "accuracy": [0-9.e-]*, "loss": [0-9.e-]*, "confusion": \[\[' "$tmp/out"
ok $? "--evaluate --json"

# Predict: the first test image as a PGM, and the test images as IDX.
{ printf 'P5\n# first MNIST test digit\n28 28\n255\n'
  gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | dd bs=16 skip=1 count=49 2>/dev/null; } >"$tmp/seven.pgm"
run cnnrun --predict "$tmp/c.ckpt.gz" --top 3 "$tmp/seven.pgm" >"$tmp/out" 2>"$tmp/err"
ok $? "--predict reads a PGM image"
grep -q "^$tmp/seven.pgm: [0-9] [01]\.[0-9]*, [0-9] [01]\.[0-9]*, [0-9] [01]\.[0-9]*$" "$tmp/out"
ok $? "--predict --top 3 prints three classes with probabilities"
run cnnrun --predict "$tmp/c.ckpt.gz" "$MNIST/t10k-images-idx3-ubyte.gz" >"$tmp/out" 2>"$tmp/err"
ok $? "--predict reads an IDX image file"
is "$(lines "$tmp/out")" 10000 "--predict prints one line per IDX image"
# Two CSV rows in the training format (label, then 784 pixels).
row=$(awk 'BEGIN { printf "3"; for (i = 0; i < 784; i++) printf ",%d", i % 256; print "" }')
printf '%s\n%s\n' "$row" "$row" >"$tmp/rows.csv"
run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/rows.csv" >"$tmp/out" 2>"$tmp/err"
ok $? "--predict reads CSV rows"
is "$(grep -c "^$tmp/rows.csv\[[01]\]: [0-9] [01]\.[0-9]*$" "$tmp/out")" 2 "--predict prints one line per CSV row"
printf 'P5\n27 28\n255\n' >"$tmp/small.pgm"
head -c 756 /dev/zero >>"$tmp/small.pgm"
run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/small.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "--predict refuses an image of the wrong size (exit 2, one line)"

# Determinism: the same seed gives the same weights, whatever the threads.
# (3 threads on a batch of 8 chunks: an uneven split; the partial last
# batch of 1000 % 128 samples has fewer chunks.)
run cnnrun $QUICK -q -j 1 -o "$tmp/a.ckpt.gz" "$MODEL" >/dev/null 2>&1 &&
run cnnrun $QUICK -q -j 2 -o "$tmp/b.ckpt.gz" "$MODEL" >/dev/null 2>&1 &&
run cnnrun $QUICK -q -j 3 -o "$tmp/c3.ckpt.gz" "$MODEL" >/dev/null 2>&1
ok $? "three runs of the same seed, 1, 2 and 3 threads"
for t in conv2d1.weight dense1.weight dense1.bias dense2.weight dense2.bias; do
	for c in a b c3; do
		run cnninspect --tensor $t "$tmp/$c.ckpt.gz" >"$tmp/$c.$t.txt" 2>&1
	done
done
cat "$tmp"/a.*.txt >"$tmp/a.txt"
cat "$tmp"/b.*.txt >"$tmp/b.txt"
cat "$tmp"/c3.*.txt >"$tmp/c3.txt"
cmp -s "$tmp/a.txt" "$tmp/b.txt" && cmp -s "$tmp/a.txt" "$tmp/c3.txt" &&
	test "$(lines "$tmp/a.txt")" -ge 18000
ok $? "the same seed gives bit-identical weights with 1, 2 and 3 threads"
run cnnrun $QUICK -q --set training.seed=2 -o "$tmp/s2.ckpt.gz" "$MODEL" >/dev/null 2>&1
run cnninspect --tensor dense1.weight "$tmp/s2.ckpt.gz" >"$tmp/s2.txt" 2>&1
cmp -s "$tmp/a.dense1.weight.txt" "$tmp/s2.txt"
ok $((!$?)) "another seed gives other weights"

# Usage errors: exit status 2 and one line on stderr.
run cnnrun --frobnicate "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "an unknown option: exit 2, one line"
run cnnrun >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "no model: exit 2, one line"
run cnnrun -j zero "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:cnnrun: --threads: expected an integer from 1 to 1024, got \"zero\" (see cnnrun --help)" "a bad --threads value"
run cnnrun --set training.epochs "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "a --set without '=': exit 2, one line"
run cnnrun --set training.epochs=0 "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "--set training.epochs=0: exit 2, one line"
grep -q 'training.epochs' "$tmp/err"
ok $? "the message names training.epochs"
run cnnrun "$tmp/missing.yaml" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "a missing model file: exit 1, one line"
run cnnrun $QUICK --set data.train.images="$tmp/missing.gz" -o "$tmp/x.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "1:1" "a missing data file: exit 1, one line"
grep -q "$tmp/missing.gz" "$tmp/err"
ok $? "the message names the data file"

done_testing
