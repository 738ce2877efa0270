# t/augment.sh - training with data.train.augment's flip and crop and with
# data.normalize: the same bits whatever the thread count and across a
# resume, and a checkpoint's --evaluate and --predict normalise as training
# did (the description travels in the checkpoint).
. "$top_srcdir/t/lib.sh"

A="--set data.train.limit=1000 --set data.test.limit=500 --set training.keep=last"
A="$A --set data.train.augment.flip=horizontal"
if [ -n "$CNN_WRAP" ]; then
	A="--set data.train.limit=300 --set data.test.limit=100 --set training.keep=last"
	A="$A --set data.train.augment.flip=horizontal"
fi
N=$(echo "$A" | sed 's/.*data.test.limit=\([0-9]*\).*/\1/')
CROP="data.train.augment.crop={padding: 2}"
NORM="data.normalize={mean: [0.1307], std: [0.3081]}"

# --- the same bits with 1 and 2 threads --------------------------------------
run cnnrun $A --set "$CROP" --set "$NORM" --set training.epochs=2 -q -j 1 \
	--metrics "$tmp/m.jsonl" -o "$tmp/j1.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
ok $? "2 epochs with flip, crop and normalize (1 thread)"
run cnnrun $A --set "$CROP" --set "$NORM" --set training.epochs=2 -q -j 2 \
	-o "$tmp/j2.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
ok $? "the same with 2 threads"
same "$tmp/j1.ckpt.gz" "$tmp/j2.ckpt.gz" "1 and 2 threads: the same bits"

# --- a resumed run is the uninterrupted one -----------------------------------
run cnnrun $A --set "$CROP" --set "$NORM" --set training.epochs=1 -q -j 2 \
	-o "$tmp/r.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1 &&
	run cnnrun --resume "$tmp/r.ckpt.gz" --set training.epochs=2 -q -j 1 >"$tmp/out" 2>&1
ok $? "1 epoch, then resumed to 2"
same "$tmp/j1.ckpt.gz" "$tmp/r.ckpt.gz" "stopping after epoch 1 and resuming changes no bit"

# --- the augmentation does something, and so does normalize ------------------
run cnnrun $A --set "$NORM" --set training.epochs=2 -q -j 1 \
	-o "$tmp/noaug.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1
run cnninspect --diff "$tmp/j1.ckpt.gz" "$tmp/noaug.ckpt.gz" >"$tmp/diff" 2>&1
tail -n 1 "$tmp/diff" | grep -q ': identical ('
is $? 1 "without flip and crop, other weights"

# --- --evaluate and --predict of the checkpoint normalise as training did -----
want=$(sed -n 's/.*"epoch": 2,.*"test_accuracy": \([0-9.]*\),.*/\1/p' "$tmp/m.jsonl")
run cnnrun --evaluate "$tmp/j1.ckpt.gz" --json >"$tmp/eval" 2>"$tmp/err"
got=$(sed -n 's/^{"samples": [0-9]*, "accuracy": \([0-9.]*\),.*/\1/p' "$tmp/eval")
is "$got" "$want" "--evaluate: the test accuracy of training's last epoch"
run cnnrun --predict "$tmp/j1.ckpt.gz" "$MNIST/t10k-images-idx3-ubyte.gz" >"$tmp/pred" 2>"$tmp/err"
ok $? "--predict on the test images"
gzip -dc "$MNIST/t10k-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$N" | od -An -v -tu1 |
	tr -s ' ' '\n' | grep . >"$tmp/labels"
head -n "$N" "$tmp/pred" | sed 's/.*: \([0-9]*\) .*/\1/' | paste -d ' ' - "$tmp/labels" >"$tmp/pairs"
right=$(awk '$1 == $2' "$tmp/pairs" | wc -l | tr -d ' ')
is "$(awk -v r="$right" -v n="$N" 'BEGIN { print r / n }')" "$(awk -v w="$want" 'BEGIN { print w + 0 }')" \
	"--predict: as many right among the first $N as training's evaluation"
# the same checkpoint told another normalisation: other answers
run cnnrun --predict "$tmp/j1.ckpt.gz" --set "data.normalize.std=[1]" \
	"$MNIST/t10k-images-idx3-ubyte.gz" >"$tmp/pred1" 2>"$tmp/err"
cmp -s "$tmp/pred" "$tmp/pred1"
is $? 1 "--predict reads data.normalize from the checkpoint (--set changes the answers)"

done_testing
