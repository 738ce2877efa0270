# t/zoo.sh - every model in models/ parses, builds and trains: two steps of
# one batch each on a slice of MNIST, a checkpoint that loads and shows them,
# and for batchnorm models running statistics that moved from their start.
. "$top_srcdir/t/lib.sh"

# The first 8 MNIST images and labels as IDX files of their own, so that
# the runs don't decompress all 60,000 (slow under valgrind); one batch of
# 8 keeps resnet_tiny's step short there too.
mnist_slice 8
STEPS="--set training.epochs=2 --set training.batch_size=8
--set data.train.images=$tmp/images --set data.train.labels=$tmp/labels
--set data.test.images=$tmp/images --set data.test.labels=$tmp/labels"

# lenet5_finetune's data is a folder of two classes, low and high, and it
# starts from lenet5's checkpoint (trained just before it in this loop)
exe examples/idx2folder \
	--limit 8 --map 0-4=low,5-9=high "$tmp/images" "$tmp/labels" \
	"$tmp/lowhigh"
FT="--set training.epochs=2 --set training.batch_size=8
--set data.train.path=$tmp/lowhigh --set data.test.path=$tmp/lowhigh
--set init.from=$tmp/lenet5.ckpt.gz"

for y in "$top_srcdir"/models/*.yaml; do
	name=$(basename "$y" .yaml)
	sets=$STEPS
	[ "$name" = lenet5_finetune ] && sets=$FT
	run cnnrun $sets -o "$tmp/$name.ckpt.gz" "$y" >"$tmp/out" 2>"$tmp/err"
	ok $? "$name: trains two steps"
	is "$(cat "$tmp/err")" "" "$name: nothing on stderr"
	grep -q '^epoch 2/2: loss [0-9.]*, ' "$tmp/out"
	ok $? "$name: reports its second epoch with a finite loss"
	run cnninspect --json "$tmp/$name.ckpt.gz" >"$tmp/json" 2>&1
	ok $? "$name: cnninspect reads the checkpoint"
	grep -q '"step": 2,' "$tmp/json"
	ok $? "$name: the checkpoint holds 2 optimiser steps"
done

# A quick try shortened to one epoch (the README's pattern): the cosine
# warm-up of one epoch takes the whole run, said once on stderr.
rt="$top_srcdir/models/resnet_tiny.yaml"
run cnnrun $STEPS --set training.epochs=1 -o "$tmp/rt1.ckpt.gz" "$rt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "0:$rt:59:28: optimizer.schedule.warmup_epochs: 1 is not less than training.epochs (1): the warm-up takes the whole run, with no cosine decay" \
	"resnet_tiny with training.epochs=1 trains; one note says the warm-up takes the whole run"
run cnnrun $STEPS --set training.epochs=1 -q -o "$tmp/rt1.ckpt.gz" "$rt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "0:" "the same with --quiet: no note"

# resnet_tiny's first batchnorm: its running variance left 1 after 2 steps
run cnninspect --tensor batchnorm1.running_var "$tmp/resnet_tiny.ckpt.gz" \
	>"$tmp/var" 2>&1
ok $? "resnet_tiny: batchnorm1.running_var is in the checkpoint"
is "$(sed -n 1p "$tmp/var")" "batchnorm1.running_var 16" \
	"resnet_tiny: running_var has one value per channel"
test "$(sed 1d "$tmp/var" | grep -cvx '1')" -gt 0
ok $? "resnet_tiny: the running variances moved from 1"

# a graph's summary names each layer's inputs; a chain's has no such column
run cnninspect "$tmp/resnet_tiny.ckpt.gz" >"$tmp/sum" 2>&1
grep -Eq '^  add1 +add +16x14x14 +0  b1_out, stem$' "$tmp/sum"
ok $? "resnet_tiny: the summary shows add1's inputs b1_out and stem"
run cnninspect --json "$tmp/resnet_tiny.ckpt.gz" >"$tmp/json" 2>&1
grep -q '"name": "conv2d6", "type": "conv2d", "inputs": \["block1"\]' "$tmp/json"
ok $? "resnet_tiny: --json gives the shortcut's input"
run cnninspect "$tmp/mnist_cnn.ckpt.gz" >"$tmp/sum" 2>&1
grep -q 'params  input$' "$tmp/sum"
ok $((!$?)) "mnist_cnn: a chain's summary has no input column"

done_testing
