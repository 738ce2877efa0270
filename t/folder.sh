# t/folder.sh - folder data sets (format: folder, one subfolder per class):
# the same MNIST images as a folder of PNG or PGM files and as IDX train to
# the same bits; class names travel from the folders into the checkpoint,
# cnninspect, --evaluate and --predict; JPEG, resizing and channel
# conversion; hidden and non-image files skipped and counted; every error
# names the file or folder.
. "$top_srcdir/t/lib.sh"

# idx2folder SET N DIR FORMAT: the first N images of MNIST's SET (train or
# t10k) into the folder DIR as FORMAT files, and as IDX in DIR.idx and
# DIR.lbl in the folder's order
idx2folder() {
	exe examples/idx2folder --limit "$2" --format "$4" \
		--idx "$3.idx" "$3.lbl" "$MNIST/$1-images-idx3-ubyte.gz" \
		"$MNIST/$1-labels-idx1-ubyte.gz" "$3"
}
Q="-q --set training.epochs=1 --set training.batch_size=32"
# train TRAIN TEST OUT ARGS...: one epoch of the reference model on the
# folders TRAIN and TEST, saved to OUT
train() {
	_tr=$1
	_te=$2
	_o=$3
	shift 3
	run cnnrun $Q --set "data.train={format: folder, path: $_tr}" \
		--set "data.test={format: folder, path: $_te}" -o "$_o" \
		"$@" "$MODEL"
}

if ! grep -q '^#define HAVE_PNG 1' "$top_builddir/config.h"; then
	skip 1 "libcnn was built without libpng (the folders are PNG)"
	done_testing
	exit
fi

# 300 training and 200 test images as PNG and as PGM, and as IDX in the
# folders' order
idx2folder train 300 "$tmp/png" png
ok $? "idx2folder writes 300 PNG files"
idx2folder train 300 "$tmp/pgm" pgm
idx2folder t10k 200 "$tmp/test" png
exe examples/idx2folder --limit 200 --map 0-4=low,5-9=high \
	"$MNIST/t10k-images-idx3-ubyte.gz" "$MNIST/t10k-labels-idx1-ubyte.gz" \
	"$tmp/lowhigh"
is "$?:$(ls "$tmp/lowhigh" | tr '\n' ' ')" "0:high low " "idx2folder --map merges labels into named classes"
is "$(ls "$tmp/lowhigh/low" | wc -l | tr -d ' ')" \
	"$(ls "$tmp/test"/[0-4] | grep -c png)" "idx2folder --map: 0-4 are low"
exe examples/idx2folder --map 0-4 "$MNIST/t10k-images-idx3-ubyte.gz" \
	"$MNIST/t10k-labels-idx1-ubyte.gz" "$tmp/never" 2>"$tmp/err"
is "$?:$(cut -c1-17 "$tmp/err")" "2:usage: idx2folder" "idx2folder: a bad --map is a usage error"

# --- the same bits as IDX --------------------------------------------------
train "$tmp/png" "$tmp/test" "$tmp/png.gz" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "0:" "trains on a folder of PNG files"
train "$tmp/pgm" "$tmp/test" "$tmp/pgm.gz"
ok $? "trains on a folder of PGM files"
run cnnrun $Q --set data.train.images="$tmp/png.idx" \
	--set data.train.labels="$tmp/png.lbl" \
	--set data.test.images="$tmp/test.idx" \
	--set data.test.labels="$tmp/test.lbl" -o "$tmp/idx.gz" "$MODEL"
ok $? "trains on the same images as IDX"
run cnninspect --diff "$tmp/png.gz" "$tmp/idx.gz" >"$tmp/out" 2>&1
ok $? "PNG folder and IDX: bit-identical weights"
run cnninspect --diff "$tmp/pgm.gz" "$tmp/idx.gz" >"$tmp/out" 2>&1
ok $? "PGM folder and IDX: bit-identical weights"

# resumed, and on one thread: the same bits (the folder is walked again
# with the checkpoint's classes)
train "$tmp/png" "$tmp/test" "$tmp/two.gz" --set training.epochs=2 -j 2
cp "$tmp/png.gz" "$tmp/resumed.gz"
run cnnrun -q -j 1 --resume "$tmp/resumed.gz" --set training.epochs=2
ok $? "a folder run resumes"
run cnninspect --diff "$tmp/resumed.gz" "$tmp/two.gz" >"$tmp/out" 2>&1
ok $? "resumed on 1 thread = 2 epochs on 2 threads, bit for bit"

# --- class names -----------------------------------------------------------
run cnninspect "$tmp/png.gz" >"$tmp/out"
grep -q '^classes: *10: 0 1 2 3 4 5 6 7 8 9$' "$tmp/out"
ok $? "cnninspect lists the folders' names"
run cnninspect --json "$tmp/png.gz" >"$tmp/out"
grep -q '"class_names": \["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"\]' "$tmp/out"
ok $? "cnninspect --json: class_names"
run cnninspect --json "$tmp/idx.gz" >"$tmp/out"
grep -q '"class_names": null' "$tmp/out"
ok $? "cnninspect --json: null without names"
run cnninspect "$tmp/png.gz" >"$tmp/out"
grep -q '^format version: 3$' "$tmp/out"
ok $? "the checkpoint is format version 3"

# named classes, in an order of their own: the folders are mapped to them
NAMES='[zero, one, two, three, four, five, six, seven, eight, nine]'
mkdir "$tmp/named" "$tmp/namedtest"
for d in 0 1 2 3 4 5 6 7 8 9; do
	n=$(echo "$NAMES" | tr -d '[] ' | cut -d, -f$((d + 1)))
	cp -r "$tmp/png/$d" "$tmp/named/$n"
	cp -r "$tmp/test/$d" "$tmp/namedtest/$n"
done
train "$tmp/named" "$tmp/namedtest" "$tmp/named.gz" \
	--set "data.classes=$NAMES"
ok $? "data.classes orders named folders"
run cnninspect --diff "$tmp/named.gz" "$tmp/idx.gz" >"$tmp/out" 2>&1
ok $? "data.classes in label order: the same bits as IDX"
run cnnrun --predict "$tmp/named.gz" "$tmp/namedtest/seven" >"$tmp/out"
is "$?:$(lines "$tmp/out")" "0:$(ls "$tmp/test/7" | wc -l | tr -d ' ')" \
	"--predict on a folder: one line per image"
head -1 "$tmp/out" | grep -q "^$tmp/namedtest/seven/[0-9]*\.png: [a-z]* 0\.[0-9]*$"
ok $? "--predict prints the file and the class name"
run cnnrun --predict "$tmp/named.gz" --top 2 "$tmp/namedtest" >"$tmp/out"
is "$?:$(lines "$tmp/out")" "0:200" "--predict on the class folders, recursively"
sort -c "$tmp/out" 2>/dev/null
ok $? "--predict on a folder: in sorted order"
run cnnrun --evaluate "$tmp/named.gz" >"$tmp/out"
grep -q '^seven  *[0-9.-]* ' "$tmp/out" && grep -q '^nine  *[0-9]*  *[0-9]' "$tmp/out"
ok $? "--evaluate names the classes in both tables"
run cnnrun --evaluate "$tmp/named.gz" --json >"$tmp/out"
grep -q '"classes": \["zero", "one",' "$tmp/out" && grep -q '{"class": 7, "name": "seven", ' "$tmp/out"
ok $? "--evaluate --json names the classes"
run cnnrun --predict "$tmp/idx.gz" "$tmp/test/7/000000.png" >"$tmp/out"
grep -q "^$tmp/test/7/000000.png: [0-9] 0\.[0-9]*$" "$tmp/out"
ok $? "--predict without names prints the class number"

# data.classes for IDX data
run cnnrun $Q --set "data.classes=$NAMES" --set data.train.limit=500 \
	--set data.test.limit=100 -o "$tmp/idxnamed.gz" "$MODEL"
run cnnrun --predict "$tmp/idxnamed.gz" "$tmp/test/7/000000.png" >"$tmp/out"
grep -q ": [a-z]* 0\.[0-9]*$" "$tmp/out"
ok $? "data.classes names IDX classes in --predict"

# --- what is skipped --------------------------------------------------------
cp -r "$tmp/png" "$tmp/skip"
mkdir -p "$tmp/skip/3/.cache/x" "$tmp/skip/.git" "$tmp/skip/4/deeper/than"
echo junk >"$tmp/skip/3/.cache/x/bad.png"
echo junk >"$tmp/skip/.git/HEAD"
echo notes >"$tmp/skip/3/README.txt"
touch "$tmp/skip/3/.hidden.png"
cp "$tmp/png/4/"*.png "$tmp/skip/4/deeper/than/" 2>/dev/null
ln -s .. "$tmp/skip/5/loop"
train "$tmp/skip" "$tmp/test" "$tmp/skip.gz" -v >"$tmp/out" 2>&1
ok $? "hidden entries, other files and link loops do not stop training"
grep -q "^$tmp/skip: 3[0-9][0-9] images in 10 classes (skipped: 3 hidden, 2 other)" "$tmp/out"
ok $? "-v counts what was skipped"

# --- errors -----------------------------------------------------------------
# expect STATUS MESSAGE NAME TRAIN ARGS...: training on the folder TRAIN
# (the test set: $tmp/test) fails with STATUS and MESSAGE, writing nothing
expect() {
	_want="$1:$2"
	_name=$3
	_tr=$4
	shift 4
	train "$_tr" "$tmp/test" "$tmp/never.gz" "$@" >"$tmp/out" 2>"$tmp/err"
	is "$?:$(cat "$tmp/err")" "$_want" "$_name"
	test ! -e "$tmp/never.gz"
	ok $? "$_name: no checkpoint written"
}
cp -r "$tmp/png" "$tmp/empty" && rm "$tmp/empty/6/"*
expect 2 "$tmp/empty/6: the class folder \"6\" has no images (.png, .pgm, .jpg or .jpeg files)" \
	"an empty class folder" "$tmp/empty"
cp -r "$tmp/png" "$tmp/extra" && mkdir "$tmp/extra/ten" && cp "$tmp/png/1/"* "$tmp/extra/ten/"
expect 2 "$tmp/extra: 11 class folders for a model of 10 classes (one subfolder per class)" \
	"one class folder too many" "$tmp/extra"
expect 2 "$tmp/png: the folder \"0\" is not one of the model's classes" \
	"a folder not in data.classes" "$tmp/png" --set "data.classes=$NAMES"
expect 1 "$tmp/nowhere: cannot open folder: No such file or directory" \
	"a missing folder" "$tmp/nowhere"
cp -r "$tmp/png" "$tmp/bad" && printf 'not a png' >"$tmp/bad/2/000005.png"
printf 'P5\n28 27\n255\n' >"$tmp/bad/8/wide.pgm" && head -c 756 /dev/zero >>"$tmp/bad/8/wide.pgm"
expect 2 "$tmp/bad/2/000005.png: not a PGM, PNG or JPEG image" \
	"a file that is not an image" "$tmp/bad"
rm "$tmp/bad/2/000005.png"
expect 2 "$tmp/bad/8/wide.pgm: image is 28x27; the model expects 28x28 (set resize: bilinear to scale it)" \
	"an image of another size" "$tmp/bad"
train "$tmp/bad" "$tmp/test" "$tmp/resized.gz" --set data.train.resize=bilinear
ok $? "resize: bilinear scales it"
run cnnrun --predict "$tmp/resized.gz" "$tmp/bad/8/wide.pgm" >"$tmp/out"
grep -q "^$tmp/bad/8/wide.pgm: [0-9] 0\.[0-9]*$" "$tmp/out"
ok $? "--predict scales an image of another size as the training set did"
run cnnrun --predict "$tmp/png.gz" "$tmp/bad/8" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:$tmp/bad/8/wide.pgm: image is 28x27; the model expects 28x28 (set resize: bilinear to scale it)" \
	"--predict on a folder: a bad image is named"
is "$(lines "$tmp/out")" "$(ls "$tmp/png/8" | wc -l | tr -d ' ')" \
	"--predict on a folder: the other images are still classified"
printf 'not a png' >"$tmp/bad/2/000005.png"
train "$tmp/bad" "$tmp/test" "$tmp/skipped.gz" -v --set data.train.resize=bilinear \
	--set data.train.skip_bad=true >"$tmp/out" 2>&1
ok $? "skip_bad: true skips the bad image"
grep -q "^$tmp/bad: 300 images in 10 classes (skipped: 0 hidden, 0 other, 1 unreadable)" "$tmp/out"
ok $? "skip_bad: the bad image is counted"
expect 2 "--set data.train.resize: expected one of none, bilinear, got \"bicubic\"" \
	"resize: an unknown method" "$tmp/png" --set data.train.resize=bicubic
run cnnrun $Q -o "$tmp/never.gz" --set data.train.resize=bilinear "$MODEL" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "2:--set data.train.resize: only valid with format folder" \
	"resize under idx"

# --- JPEG -------------------------------------------------------------------
if ! grep -q '^#define HAVE_JPEG 1' "$top_builddir/config.h"; then
	skip 8 "libcnn was built without libjpeg"
	done_testing
	exit
fi
idx2folder t10k 200 "$tmp/pgmtest" pgm
# jpegs DIR EXT OPTIONS...: every PGM of $tmp/pgmtest into DIR (same class
# folders) as *.EXT, in one t/pgm2jpeg run with OPTIONS
jpegs() {
	_dir=$1 _ext=$2 _last=
	shift 2
	for _f in "$tmp"/pgmtest/*/*.pgm; do
		_b=${_f#"$tmp/pgmtest/"}
		if [ "${_b%/*}" != "$_last" ]; then
			_last=${_b%/*}
			mkdir -p "$_dir/$_last" || return
		fi
		set -- "$@" "$_f" "$_dir/${_b%.pgm}.$_ext"
	done
	exe t/pgm2jpeg "$@"
}
jpegs "$tmp/jpeg" jpg --quality 95 && jpegs "$tmp/rgb" jpeg --rgb --quality 95
ok $? "pgm2jpeg writes 200 grey and 200 colour JPEG files"
run cnnrun --evaluate "$tmp/png.gz" --json >"$tmp/png.eval"
run cnnrun --evaluate "$tmp/png.gz" --json --set "data.test.path=$tmp/jpeg" >"$tmp/jpeg.eval"
ok $? "--evaluate on a JPEG folder"
a=$(sed 's/.*"accuracy": \([0-9.e-]*\).*/\1/' "$tmp/png.eval")
b=$(sed 's/.*"accuracy": \([0-9.e-]*\).*/\1/' "$tmp/jpeg.eval")
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a - 0.03 && b < a + 0.03) }'
ok $? "JPEG (quality 95) accuracy within 3 points of PNG's ($b against $a)"
run cnnrun --evaluate "$tmp/png.gz" --json --set "data.test.path=$tmp/rgb" >"$tmp/rgb.eval"
ok $? "colour JPEG into a grey model: converted"
run cnnrun --predict "$tmp/png.gz" "$tmp/jpeg/7" >"$tmp/out"
is "$?:$(lines "$tmp/out")" "0:$(ls "$tmp/jpeg/7" | wc -l | tr -d ' ')" "--predict on JPEG files"
# a grey folder into a colour model
train "$tmp/png" "$tmp/jpeg" "$tmp/c3.gz" --set input.channels=3
ok $? "grey images into a 3-channel model: converted"
head -c 300 "$tmp/jpeg/7/$(ls "$tmp/jpeg/7" | head -1)" >"$tmp/cut.jpg"
cp -r "$tmp/jpeg" "$tmp/cut" && cp "$tmp/cut.jpg" "$tmp/cut/3/zz.jpg"
run cnnrun --evaluate "$tmp/png.gz" --set "data.test.path=$tmp/cut" >"$tmp/out" 2>"$tmp/err"
st=$?
test "$st" = 2 && grep -q "^$tmp/cut/3/zz.jpg: corrupt JPEG" "$tmp/err"
ok $? "a truncated JPEG: an error naming the file"
train "$tmp/cut" "$tmp/test" "$tmp/cut.gz" -v --set data.train.skip_bad=true >"$tmp/out" 2>&1
grep -q "^$tmp/cut: 200 images in 10 classes (skipped: 0 hidden, 0 other, 1 unreadable)" "$tmp/out"
ok $? "skip_bad: the truncated JPEG skipped and counted"

done_testing
