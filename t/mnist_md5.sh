# t/mnist_md5.sh - the MNIST files shipped in data/mnist are intact: each
# *.gz, decompressed, has the MD5 digest listed in data/mnist/MD5SUMS.
# TAP; top_srcdir is set by "make check" (default: the current folder).
top_srcdir=${top_srcdir:-.}
dir=$top_srcdir/data/mnist

if command -v md5sum >/dev/null 2>&1; then
	md5() { md5sum | cut -d' ' -f1; }
elif command -v md5 >/dev/null 2>&1; then
	md5() { md5 -q; }
else
	echo "1..0 # SKIP neither md5sum nor md5 found"
	exit 0
fi

echo "1..4"
n=0
for name in t10k-images-idx3-ubyte t10k-labels-idx1-ubyte \
	train-images-idx3-ubyte train-labels-idx1-ubyte; do
	n=$((n + 1))
	want=$(awk -v f="$name" '$2 == f { print $1 }' "$dir/MD5SUMS" 2>/dev/null)
	if [ -z "$want" ]; then
		echo "not ok $n - $name: no entry in $dir/MD5SUMS"
		continue
	fi
	if ! gzip -t "$dir/$name.gz" 2>/dev/null; then
		echo "not ok $n - $name: $dir/$name.gz is missing or damaged"
		continue
	fi
	got=$(gzip -dc "$dir/$name.gz" | md5)
	if [ "$got" = "$want" ]; then
		echo "ok $n - $name: md5 $got"
	else
		echo "not ok $n - $name: md5 $got, expected $want"
	fi
done
