# t/export_onnx.sh - `cnnexport -o MODEL.onnx` (cnn_model_export's ONNX
# builder) for every model of the zoo, the export test models (every layer
# kind; no softmax) and two edge cases made here (tensors that change rank
# between [N, C, H, W] and [N, K]; layers called "logits" and
# "probabilities"): each trained a few steps, exported, then
#  - accepted by onnx.checker.check_model(full_check=True), with the
#    promised inputs, outputs and metadata (t/onnx_check.py), when a python3
#    with the onnx module is found;
#  - run by ONNX Runtime for Node (t/onnx_run.js) on libcnn's inputs for
#    100 MNIST test images (t/fwd_dump) with batches of 100 and of 1: every
#    probability within 1e-5 of libcnn's, and softmax(logits) within 1e-5
#    of the probabilities, when node and onnxruntime-node are found
#    (NODE_PATH, then ~/.cache/libcnn-npm/node_modules).
. "$top_srcdir/t/lib.sh"

TOL=1e-5

py=
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null 2>&1 &&
		"$p" -c 'import onnx' >/dev/null 2>&1; then
		py=$p
		break
	fi
done
py_why="no python3 with the onnx module (Debian: python3-onnx)"

NODE_PATH="${NODE_PATH:+$NODE_PATH:}$HOME/.cache/libcnn-npm/node_modules"
export NODE_PATH
ort=
if ! command -v node >/dev/null 2>&1; then
	ort_why="no node"
elif ! node -e "require('onnxruntime-node')" >/dev/null 2>&1; then
	ort_why="no onnxruntime-node (npm install --prefix ~/.cache/libcnn-npm onnxruntime-node)"
else
	ort=yes
fi

# 16 MNIST training images and labels as IDX files of their own, so that
# the runs don't decompress all 60,000 (slow under valgrind): two steps of
# 8 move every weight and running statistic from its start.
mnist_slice 16
STEPS="--set training.epochs=1 --set training.batch_size=8
--set data.train.images=$tmp/images --set data.train.labels=$tmp/labels
--set data.test.images=$tmp/images --set data.test.labels=$tmp/labels
--set data.test.limit=8"

# Two models for the edges of the rank bookkeeping. edges: a rank-4
# global_avgpool added (Sum of three) and concatenated with a rank-2 dense
# and batchnorm, a 1x1 conv and pool on the result (Unsqueeze), softmax on
# a rank-4 input (its Flatten is "logits"). edges2: layers called "logits"
# and "probabilities", a rank-4 last layer (its Flatten is
# "probabilities"), dropout last, no softmax.
cat >"$tmp/edges.yaml" <<EOF
name: edges
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv2d, filters: 4, kernel: 3, stride: 2, name: c1}
  - {type: global_avgpool, name: g}
  - {type: dense, units: 4, input: c1}
  - {type: batchnorm, name: bn}
  - {type: add, input: [g, bn, g], name: a}
  - {type: concat, input: [a, g]}
  - {type: conv2d, filters: 10, kernel: 1}
  - {type: maxpool, size: 1}
  - {type: elu}
  - {type: softmax}
data:
  train: {format: idx, images: x, labels: x}
  test: {format: idx, images: x, labels: x}
EOF
cat >"$tmp/edges2.yaml" <<EOF
name: edges2
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv2d, filters: 10, kernel: 5, stride: 3, name: logits}
  - {type: avgpool, size: 2}
  - {type: global_avgpool}
  - {type: dropout}
  - {type: sigmoid}
  - {type: dropout, name: probabilities}
loss: {type: mse}
data:
  train: {format: idx, images: x, labels: x}
  test: {format: idx, images: x, labels: x}
EOF

# within X: X is a number no larger than TOL.
within() {
	case $1 in
	[0-9]*) awk -v d="$1" -v t="$TOL" 'BEGIN { exit !(d + 0 <= t + 0) }' ;;
	*) return 1 ;;
	esac
}

# field KEY FILE: the value after "KEY " in onnx_run.js's output.
field() {
	sed -n "s/^$1 //p" "$2"
}

# check_onnx NAME SOFTMAX: the checker on $tmp/NAME.onnx.
check_onnx() {
	if [ -z "$py" ]; then
		skip 1 "$py_why"
		return
	fi
	"$py" "$top_srcdir/t/onnx_check.py" "$tmp/$1.onnx" "$2" $c $h $w $k \
		$scale >"$tmp/check" 2>&1
	ok $? "$1: onnx.checker (full_check) accepts it; inputs, outputs, metadata as promised"
	sed 's/^/#   /' "$tmp/check" | tail -n 5
}

# run_onnx NAME SOFTMAX BATCH: ONNX Runtime on the first BATCH inputs.
run_onnx() {
	outs=probabilities
	[ "$2" = 1 ] && outs=probabilities,logits
	node "$top_srcdir/t/onnx_run.js" "$tmp/$1.onnx" "$tmp/in.f32" "$3" \
		$c $h $w "$tmp/probs.f32" >"$tmp/ort" 2>&1
	ok $? "$1: ONNX Runtime runs it on a batch of $3"
	sed -n 's/^onnx_run.js: /#   /p' "$tmp/ort"
	is "$(field outputs "$tmp/ort") $(field shape "$tmp/ort")" \
		"$outs $3,$k" "$1: outputs $outs, probabilities $3x$k"
	d=$(field diff "$tmp/ort")
	within "$d"
	ok $? "$1: batch of $3: every probability within $TOL of libcnn's (largest difference $d)"
	if [ "$2" = 1 ]; then
		d=$(field logits "$tmp/ort")
		within "$d"
		ok $? "$1: batch of $3: softmax(logits) within $TOL of the probabilities ($d)"
	fi
}

# model YAML SOFTMAX: trains, exports and checks one model.
model() {
	name=$(basename "$1" .yaml)
	run cnnrun -q $STEPS -o "$tmp/$name.ckpt.gz" "$1" >"$tmp/out" 2>&1
	ok $? "$name: trains a few steps"
	sed 's/^/#   /' "$tmp/out" | head -n 3
	run cnnexport "$tmp/$name.ckpt.gz" -o "$tmp/$name.onnx" >"$tmp/out" 2>&1
	ok $? "$name: cnnexport writes $name.onnx"
	sed 's/^/#   /' "$tmp/out" | head -n 3
	"$top_builddir/t/fwd_dump" "$tmp/$name.ckpt.gz" 100 "$tmp/in.f32" \
		"$tmp/probs.f32" "$MNIST/t10k-images-idx3-ubyte.gz" >"$tmp/dims"
	ok $? "$name: libcnn's answers for 100 test images (t/fwd_dump)"
	read -r n c h w k scale <"$tmp/dims"
	check_onnx "$name" "$2"
	if [ -z "$ort" ]; then
		skip $((6 + 2 * $2)) "$ort_why"
		return
	fi
	run_onnx "$name" "$2" 100
	run_onnx "$name" "$2" 1
}

for y in "$top_srcdir"/models/*.yaml "$top_srcdir/t/export/kinds.yaml" \
	"$tmp/edges.yaml"; do
	# its data is a 2-class folder and it starts from lenet5's
	# checkpoint: t/finetune.sh trains it; its export is lenet5's
	case $y in */lenet5_finetune.yaml) continue ;; esac
	model "$y" 1
done
model "$top_srcdir/t/export/mse.yaml" 0
model "$tmp/edges2.yaml" 0

# The checks can fail: a file cut short is refused.
if [ -n "$py" ]; then
	head -c 4000 "$tmp/kinds.onnx" >"$tmp/cut.onnx"
	"$py" "$top_srcdir/t/onnx_check.py" "$tmp/cut.onnx" 1 1 28 28 10 \
		"$scale" >/dev/null 2>&1
	ok $((!$?)) "a file cut short fails the checker"
else
	skip 1 "$py_why"
fi

done_testing
