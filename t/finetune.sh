# t/finetune.sh - fine-tuning: models/lenet5_finetune.yaml starts from a
# LeNet-5 checkpoint (init: all_matching) with its convolutions frozen
# (trainable: false), on a 2-class folder. Frozen tensors keep every bit
# of the source's; copied ones start as the source's; mismatches are one
# line naming the tensor and both shapes; -v lists what was not copied;
# a resumed run is bit-identical to an uninterrupted one without the
# source file; -j 1 equals -j 2; cnninspect shows the provenance.
. "$top_srcdir/t/lib.sh"

FT="$top_srcdir/models/lenet5_finetune.yaml"
CONV="conv2d1.weight conv2d1.bias conv2d2.weight conv2d2.bias"

# tensor CKPT NAME: the tensor's values as text (empty when absent).
tensor() {
	run cnninspect --tensor "$2" "$1" 2>/dev/null
}

# --- the source: LeNet-5, one short epoch -----------------------------------
run cnnrun -q -j 2 --set training.epochs=1 --set data.train.limit=2000 \
	--set data.test.limit=500 -o "$tmp/base.ckpt.gz" \
	"$top_srcdir/models/lenet5.yaml" >"$tmp/out" 2>&1
ok $? "lenet5 trains one epoch: the source checkpoint"

# --- a 2-class folder: the digits 0 and 1 of the first 400 images -----------
exe examples/idx2folder \
	--limit 400 --format pgm --map 0=0,1=1 \
	"$MNIST/train-images-idx3-ubyte.gz" \
	"$MNIST/train-labels-idx1-ubyte.gz" "$tmp/f"
ok $? "a folder of two classes"
D="--set data.train.path=$tmp/f --set data.test.path=$tmp/f"
S="--set init.from=$tmp/base.ckpt.gz"

# --- the fine-tune run ------------------------------------------------------
run cnnrun -v -j 2 $D $S --set training.epochs=2 -o "$tmp/ft.ckpt.gz" \
	"$FT" >"$tmp/out" 2>"$tmp/err"
ok $? "lenet5_finetune trains 2 epochs from the source"
grep -F "init: copied 8 tensors from $tmp/base.ckpt.gz (model lenet5, epoch 1): conv2d1.weight, conv2d1.bias, conv2d2.weight, conv2d2.bias, dense1.weight, dense1.bias, dense2.weight, dense2.bias" "$tmp/out" >/dev/null
ok $? "-v lists the tensors copied"
grep -Fx "init: not copied: dense3.weight (2x84 here, 10x84 there), dense3.bias (2 here, 10 there)" "$tmp/out" >/dev/null
ok $? "-v lists those not copied and why"
for t in $CONV; do
	a=$(tensor "$tmp/base.ckpt.gz" $t)
	b=$(tensor "$tmp/ft.ckpt.gz" $t)
	[ -n "$a" ] && [ "$a" = "$b" ]
	ok $? "frozen $t: every bit the source's after training"
done
[ "$(tensor "$tmp/base.ckpt.gz" dense1.weight)" != "$(tensor "$tmp/ft.ckpt.gz" dense1.weight)" ]
ok $? "dense1.weight (copied, trainable) changed in training"

# dense1 frozen too: then it must be exactly the source's, the copy itself
run cnnrun -q -j 2 $D $S --set training.epochs=1 --set layers.7.trainable=false \
	-o "$tmp/ft7.ckpt.gz" "$FT" >"$tmp/out" 2>&1
ok $? "the same with dense1 frozen too"
for t in dense1.weight dense1.bias; do
	a=$(tensor "$tmp/base.ckpt.gz" $t)
	[ -n "$a" ] && [ "$a" = "$(tensor "$tmp/ft7.ckpt.gz" $t)" ]
	ok $? "$t is copied bit for bit from the source"
done

# --- cnninspect -------------------------------------------------------------
run cnninspect "$tmp/ft.ckpt.gz" >"$tmp/sum" 2>&1
grep -Fx "initialised from: $tmp/base.ckpt.gz (model lenet5, epoch 1; 8 tensors copied)" "$tmp/sum" >/dev/null
ok $? "cnninspect shows where the weights came from"
is "$(grep -c '  frozen$' "$tmp/sum")" 4 "cnninspect marks the 4 frozen tensors"
run cnninspect --json "$tmp/ft.ckpt.gz" >"$tmp/json" 2>&1
grep -F "\"init\": {\"from\": \"$tmp/base.ckpt.gz\", \"model\": \"lenet5\", \"epoch\": 1, \"tensors\": [\"conv2d1.weight\", " "$tmp/json" >/dev/null
ok $? "--json: the member init"
is "$(grep -c '"frozen": true' "$tmp/json")" 4 "--json: 4 frozen tensors"
run cnninspect --json "$tmp/base.ckpt.gz" >"$tmp/json" 2>&1
grep -qx '  "init": null,' "$tmp/json"
ok $? "--json: init is null for a model trained from scratch"

# --- mismatches -------------------------------------------------------------
# expect STATUS MESSAGE NAME ARGS...: cnnrun ARGS on the fine-tune model
expect() {
	_st=$1 _msg=$2 _name=$3
	shift 3
	run cnnrun -q $D $S -o "$tmp/never.ckpt.gz" "$@" "$FT" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(cat "$tmp/err")" "$_st:$_msg" "$_name"
	test ! -e "$tmp/never.ckpt.gz"
	ok $? "$_name: no checkpoint written"
}
expect 2 "--set init.tensors: init.tensors.1: dense3.weight has shape 2x84 here but 10x84 in $tmp/base.ckpt.gz" \
	"a listed tensor of another shape" --set "init.tensors=[conv2d1.weight, dense3.weight]"
expect 2 "--set init.tensors: init.tensors.0: head.weight is in this model but not in $tmp/base.ckpt.gz" \
	"a listed tensor the source lacks" --set layers.11.name=head \
	--set "init.tensors=[head.weight]"
expect 2 "--set init.tensors: init.tensors.0: dense3.weight is in $tmp/base.ckpt.gz but not in this model" \
	"a listed tensor this model lacks" --set layers.11.name=head \
	--set "init.tensors=[dense3.weight]"
expect 1 "--set init.from: $tmp/nosuch.ckpt.gz: cannot open checkpoint: No such file or directory" \
	"a missing source: the loader's message, prefixed" \
	--set "init.from=$tmp/nosuch.ckpt.gz"
run cnnrun -q --set training.epochs=1 --set data.train.limit=200 \
	--set data.test.limit=100 -o "$tmp/cnn.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1
expect 2 "$FT:43:39: init.tensors: no tensor of this model is in $tmp/cnn.ckpt.gz with the same shape: nothing to copy" \
	"all_matching with nothing in common" --set "init.from=$tmp/cnn.ckpt.gz"

# --- resume without the source; threads -------------------------------------
cp "$tmp/base.ckpt.gz" "$tmp/src.ckpt.gz"
S="--set init.from=$tmp/src.ckpt.gz"
run cnnrun -q -j 1 $D $S --set training.epochs=2 -o "$tmp/straight.ckpt.gz" \
	"$FT" >"$tmp/out" 2>&1
ok $? "2 epochs, 1 thread"
run cnnrun -q -j 2 $D $S --set training.epochs=2 -o "$tmp/j2.ckpt.gz" \
	"$FT" >"$tmp/out" 2>&1
ok $? "2 epochs, 2 threads"
same "$tmp/straight.ckpt.gz" "$tmp/j2.ckpt.gz" "-j 1 and -j 2 give the same bits"
run cnnrun -q -j 2 $D $S --set training.epochs=1 -o "$tmp/r.ckpt.gz" \
	"$FT" >"$tmp/out" 2>&1
ok $? "1 epoch"
rm -f "$tmp/src.ckpt.gz"
run cnnrun --resume "$tmp/r.ckpt.gz" --set training.epochs=2 -q -j 3 \
	>"$tmp/out" 2>&1
ok $? "resumed to 2 epochs with the source deleted"
same "$tmp/straight.ckpt.gz" "$tmp/r.ckpt.gz" \
	"the resumed fine-tune run equals the uninterrupted one"
run cnninspect "$tmp/r.ckpt.gz" >"$tmp/sum" 2>&1
grep -Fqx "initialised from: $tmp/src.ckpt.gz (model lenet5, epoch 1; 8 tensors copied)" "$tmp/sum"
ok $? "the resumed run keeps the provenance"
run cnnrun --evaluate "$tmp/r.ckpt.gz" >"$tmp/out" 2>&1
ok $? "--evaluate does not need the source"

done_testing
