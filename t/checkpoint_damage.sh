#!/bin/sh
# checkpoint_damage.sh - the tools on real checkpoints: cnninspect's summary,
# --json and --tensor on a good one; then damaged ones (bytes flipped, cut
# short, missing) refused by cnninspect and `cnnrun --resume` with exit
# status 1 and exactly one line on stderr; usage errors exit 2.

# shellcheck source=t/lib.sh
. "$top_srcdir/t/lib.sh"

ckpt="$tmp/c.ckpt.gz"

# flip FILE OFFSET: inverts every bit of the byte at OFFSET, in place.
flip() {
	_b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((255 - _b)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# refused NAME TOOL ARGS...: TOOL must exit 1 with one line on stderr.
refused() {
	_name=$1
	shift
	run "$@" >"$tmp/out" 2>"$tmp/err"
	_st=$?
	is "$_st:$(lines "$tmp/err")" "1:1" "$_name: exit 1, one line"
	[ "$_st" -eq 1 ] || sed 's/^/#   /' "$tmp/err"
}

# ---------------------------------------------------------------------------
# A real checkpoint (one thread: libgomp's pool would show as "possibly
# lost" under valgrind, and the thread count does not matter here)
run cnnrun -j 1 --quiet --set training.epochs=1 --set data.train.limit=500 \
	--set data.test.limit=200 -o "$ckpt" "$MODEL" >"$tmp/out" 2>"$tmp/err"
ok $? "cnnrun trains one short epoch and writes a checkpoint"
if [ ! -s "$ckpt" ]; then
	sed 's/^/#   /' "$tmp/err"
	echo "Bail out! no checkpoint to inspect"
	exit 1
fi
st=0
for f in "$tmp"/*.tmp.*; do
	[ -e "$f" ] && st=1
done
ok "$st" "no temporary file is left beside it"
if command -v gzip >/dev/null 2>&1; then
	gzip -t "$ckpt" 2>"$tmp/err"
	ok $? "it is a valid gzip file"
else
	ok 0 "it is a valid gzip file # SKIP no gzip"
fi

# ---------------------------------------------------------------------------
# cnninspect on the good checkpoint
run cnninspect "$ckpt" >"$tmp/sum" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "0:0" "cnninspect: exit 0, nothing on stderr"
grep -q '^model: *mnist_cnn$' "$tmp/sum"
ok $? "the summary names the model"
grep -q '^format version: *3$' "$tmp/sum"
ok $? "the summary gives the format version"
st=0
for t in 'conv2d1.weight *2x1x5x5 ' 'dense1.weight *60x288 ' \
	'dense1.bias *60 ' 'dense2.weight *10x60 ' 'dense2.bias *10 '; do
	grep -q "^  $t" "$tmp/sum" || st=1
done
ok "$st" "the summary lists every tensor with its shape"
grep -q '^  total *18000$' "$tmp/sum"
ok $? "the summary counts 18000 parameters"
grep -q '^  epoch: *1 of 1$' "$tmp/sum" &&
	grep -q '^  optimizer: *adam (learning_rate 0.001' "$tmp/sum"
ok $? "the summary shows the training state and the optimiser"

run cnninspect --json "$ckpt" >"$tmp/json" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "0:0" "cnninspect --json: exit 0"
st=0
for s in '"name": "conv2d1.weight", "shape": \[2, 1, 5, 5\]' \
	'"name": "dense1.weight", "shape": \[60, 288\]' \
	'"name": "dense1.bias", "shape": \[60\]' \
	'"name": "dense2.weight", "shape": \[10, 60\]' \
	'"name": "dense2.bias", "shape": \[10\]' \
	'"format_version": 3' '"best_test_accuracy": ' \
	'"optimizer": {"type": "adam", "learning_rate": 0.001'; do
	grep -q "$s" "$tmp/json" || { st=1; echo "#   missing: $s"; }
done
ok "$st" "the JSON lists the tensors with their shapes, the version, the state"
if command -v python3 >/dev/null 2>&1; then
	python3 - "$tmp/json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
shapes = {t["name"]: t["shape"] for t in d["tensors"]}
assert shapes == {"conv2d1.weight": [2, 1, 5, 5], "dense1.weight": [60, 288],
                  "dense1.bias": [60], "dense2.weight": [10, 60],
                  "dense2.bias": [10]}, shapes
assert d["format_version"] == 3
assert d["model"]["name"] == "mnist_cnn"
assert [l["output_shape"] for l in d["model"]["layers"]][0] == [2, 24, 24]
assert sum(l["params"] for l in d["model"]["layers"]) == 18000
tr = d["training"]
assert tr["epoch"] == 1 and tr["epochs"] == 1 and tr["step"] >= 1
assert tr["optimizer"]["type"] == "adam"
assert abs(tr["optimizer"]["beta2"] - 0.995) < 1e-12
assert len(d["history"]) == 1 and d["history"][0]["epoch"] == 1
for t in d["tensors"]:
    assert t["min"] <= t["mean"] <= t["max"] and t["std"] >= 0
EOF
	ok $? "the JSON parses (python3) and holds the expected values"
else
	ok 0 "the JSON parses # SKIP no python3"
fi

run cnninspect --tensor dense2.bias "$ckpt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/out"):$(head -n 1 "$tmp/out")" "0:11:dense2.bias 10" \
	"--tensor prints the shape line, then 10 values"
run cnninspect --tensor nosuch "$ckpt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "--tensor with an unknown name: exit 2"
is "$(cat "$tmp/err")" "cnninspect: no tensor \"nosuch\" in $ckpt (tensors: conv2d1.weight, dense1.weight, dense1.bias, dense2.weight, dense2.bias)" \
	"... and the message lists the tensors"

# ---------------------------------------------------------------------------
# Damage
size=$(wc -c <"$ckpt" | tr -d ' ')
for at in 3 9 20 100 $((size / 3)) $((size / 2)) $((size - 30)) \
	$((size - 6)) $((size - 1)); do
	cp "$ckpt" "$tmp/flip.gz"
	flip "$tmp/flip.gz" "$at"
	refused "cnninspect, byte $at of $size flipped" cnninspect "$tmp/flip.gz"
done
cp "$ckpt" "$tmp/flip.gz"
flip "$tmp/flip.gz" $((size / 2))
refused "cnnrun --resume, a byte flipped" cnnrun --resume "$tmp/flip.gz"

for len in 0 5 30 $((size / 2)) $((size - 1)); do
	head -c "$len" "$ckpt" >"$tmp/cut.gz"
	refused "cnninspect, cut to $len bytes" cnninspect "$tmp/cut.gz"
done
grep -q 'truncated' "$tmp/err"
ok $? "... and the message says truncated"
head -c $((size / 2)) "$ckpt" >"$tmp/cut.gz"
refused "cnnrun --resume, cut short" cnnrun --resume "$tmp/cut.gz"
grep -q 'truncated (while reading record TENS ' "$tmp/err"
ok $? "... and the message names the record being read"

cp "$ckpt" "$tmp/long.gz"
echo junk >>"$tmp/long.gz"
refused "cnninspect, data after the end" cnninspect "$tmp/long.gz"
refused "cnninspect, a missing file" cnninspect "$tmp/missing.ckpt.gz"
refused "cnninspect, not a checkpoint" cnninspect "$top_srcdir/NEWS"

# ---------------------------------------------------------------------------
# Usage
run cnninspect --bogus "$ckpt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "a bad option: exit 2, one line"
run cnninspect >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "no checkpoint: exit 2, one line"
run cnninspect "$ckpt" "$ckpt" >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "two checkpoints: exit 2, one line"
run cnninspect --tensor >"$tmp/out" 2>"$tmp/err"
is "$?:$(lines "$tmp/err")" "2:1" "--tensor without a name: exit 2"
run cnninspect --help >"$tmp/out" 2>"$tmp/err"
st=$?
grep -q -- '--json' "$tmp/out" && grep -q -- '--tensor NAME' "$tmp/out" &&
	grep -q -- '--version' "$tmp/out"
is "$st:$?" "0:0" "--help: exit 0, every option"
run cnninspect --version >"$tmp/out" 2>"$tmp/err"
st=$?
grep -q '^cnninspect (libcnn) [0-9]*\.[0-9]*\.[0-9]*$' "$tmp/out"
is "$st:$?" "0:0" "--version: cnninspect (libcnn) X.Y.Z"

# ---------------------------------------------------------------------------
# Resuming continues the stored state (STAT and HIST round trip).
run cnnrun -j 1 --quiet --resume "$ckpt" --set training.epochs=2 \
	>"$tmp/out" 2>"$tmp/err"
ok $? "cnnrun --resume continues to a second epoch"
run cnninspect --json "$ckpt" >"$tmp/json" 2>"$tmp/err"
grep -q '"epoch": 2,' "$tmp/json" &&
	grep -q '{"epoch": 1, "loss"' "$tmp/json" &&
	grep -q '{"epoch": 2, "loss"' "$tmp/json"
ok $? "the checkpoint then holds epoch 2 and both epochs' metrics"

done_testing
