# t/load.sh - the library's threads on a busy machine: a process spins on
# a core beside the test while t/test_pool checks that every block of a
# loop runs once, and while the reference model, resnet_tiny (batch
# statistics) and mlp (its first layer run by rows) train at 1 and 3
# threads. The blocks of a loop go to
# whichever thread is free, so under load the chunks land on other threads
# than on a quiet machine: the weights must still be bit-identical.
. "$top_srcdir/t/lib.sh"

sh -c 'while :; do :; done' &
spin=$!
trap 'kill $spin 2>/dev/null; rm -rf "$tmp"' EXIT

CNN_POOL_LOAD=1 $CNN_WRAP "$top_builddir/t/test_pool" >"$tmp/pool" 2>&1
ok $? "t/test_pool with a process spinning beside it"
grep '^not ok' "$tmp/pool" | sed 's/^/#   /'


R="$top_srcdir/models/resnet_tiny.yaml"
RS="--set data.train.limit=300 --set data.test.limit=100 --set training.epochs=1"
P="$top_srcdir/models/mlp.yaml"
PS="--set data.train.limit=640 --set data.test.limit=100 --set training.epochs=1"
# 3 threads: more than the free cores, so chunks move between threads most
for j in 1 3; do
	run cnnrun $QUICK -q -j $j -o "$tmp/m$j.gz" "$MODEL" >/dev/null 2>&1
	run cnnrun $RS -q -j $j -o "$tmp/r$j.gz" "$R" >/dev/null 2>&1
	run cnnrun $PS -q -j $j -o "$tmp/p$j.gz" "$P" >/dev/null 2>&1
done
same "$tmp/m1.gz" "$tmp/m3.gz" "reference model under load: 3 threads as 1"
same "$tmp/r1.gz" "$tmp/r3.gz" "resnet_tiny under load: 3 threads as 1"
same "$tmp/p1.gz" "$tmp/p3.gz" "mlp under load: 3 threads as 1"
done_testing
