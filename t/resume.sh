# t/resume.sh - a training run survives whatever stops it: resuming gives
# bit-identical weights (from the end of an epoch and from the middle of
# one, with other thread counts), SIGKILL at random moments always leaves a
# loadable checkpoint no older than the last epoch reported, SIGINT and
# SIGTERM save and stop, and a full disk or a file-size limit fails cleanly
# with the previous checkpoint intact.
. "$top_srcdir/t/lib.sh"

# A short run on a slice of MNIST that saves every 2 batches (24 batches an
# epoch). Under valgrind everything is ~50 times slower: a smaller slice
# that saves after every batch (5 an epoch), and fewer tries.
E=4 BATCHES=24 tries=4
R="--set training.epochs=$E --set data.train.limit=3000 --set data.test.limit=300 --set checkpoint.every_batches=2"
if [ -n "$CNN_WRAP" ]; then
	E=2 BATCHES=5 tries=1
	R="--set training.epochs=$E --set data.train.limit=640 --set data.test.limit=100 --set checkpoint.every_batches=1"
fi

# epoch_of CKPT: the epochs completed in a checkpoint, "none" if it cannot
# be loaded.
epoch_of() {
	run cnninspect --json "$1" 2>/dev/null | sed -n 's/^ *"epoch": \([0-9]*\),$/\1/p' |
		grep . || echo none
}

# start TOOL ARGS... (with its redirections before the call): runs a built
# tool in the background; $! is then the tool's own process (env and
# valgrind both exec), so signals reach it.
start() {
	built "tools/$1"
	shift
	env "$exe_env" $CNN_WRAP "$exe_prog" "$@" &
}

# wait_for FILE PID: waits (up to 120 s) until FILE exists or PID is gone.
wait_for() {
	_n=0
	while [ ! -e "$1" ] && kill -0 "$2" 2>/dev/null && [ $_n -lt 1200 ]; do
		sleep 0.1
		_n=$((_n + 1))
	done
}

# A random delay of 0 to 0.39 s (awk's rand, seeded by the time and try).
delay() {
	awk -v s="$(date +%s)$1" 'BEGIN { srand(s); printf "%.2f", rand() * 0.4 }'
}

# --- the reference: 4 epochs without a stop ---------------------------------
run cnnrun $R -q -j 1 -o "$tmp/straight.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
ok $? "a $E-epoch run that saves within epochs"
is "$(epoch_of "$tmp/straight.ckpt.gz")" $E "it ends at epoch $E"

# --- exact resume between epochs, with other thread counts ------------------
run cnnrun $R -q -j 2 --set training.epochs=1 -o "$tmp/r.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1 &&
	run cnnrun --resume "$tmp/r.ckpt.gz" --set training.epochs=$((E - 1)) -q -j 1 >"$tmp/out" 2>&1 &&
	run cnnrun --resume "$tmp/r.ckpt.gz" --set training.epochs=$E -q -j 3 >"$tmp/out" 2>&1
ok $? "1 epoch (2 threads), resume to $((E - 1)) (1 thread), resume to $E (3 threads)"
same "$tmp/straight.ckpt.gz" "$tmp/r.ckpt.gz" \
	"stopping and resuming between epochs changes no bit of any tensor"

# --- SIGTERM and SIGINT: save where training is, exit 1, resume exactly -----
for sig in TERM INT; do
	ck="$tmp/$sig.ckpt.gz"
	start cnnrun $R -q -j 1 -o "$ck" "$MODEL" >"$tmp/out" 2>"$tmp/err"
	pid=$!
	wait_for "$ck" $pid
	sleep "$(delay $sig)"
	kill -$sig $pid 2>/dev/null
	wait $pid 2>/dev/null
	st=$?
	if [ $st -eq 0 ]; then
		# the run ended before the signal came: nothing to resume
		ok 0 "SIG$sig came after the end (# the run was too quick)"
		ok 0 "SIG$sig: (skipped)"
	else
		is "$st:$(lines "$tmp/err")" "1:1" "SIG$sig: exit status 1 and one line"
		grep -q "^$ck: training stopped \(in epoch [1-$E] after batch [0-9]* of $BATCHES\|after epoch [1-$E]\|before epoch [1-$E] ended\); this checkpoint holds that state$" "$tmp/err"
		ok $? "SIG$sig: the line says where training stopped"
		[ $? -eq 0 ] || sed 's/^/#   /' "$tmp/err"
	fi
	run cnnrun --resume "$ck" -q -j 2 >"$tmp/out" 2>&1
	ok $? "SIG$sig: the checkpoint resumes"
	same "$tmp/straight.ckpt.gz" "$ck" "SIG$sig: the resumed run ends bit-identical to the straight one"
done

# --- SIGKILL at random moments ------------------------------------------------
i=1
while [ $i -le $tries ]; do
	ck="$tmp/kill$i.ckpt.gz"
	start cnnrun $R -j 1 -o "$ck" "$MODEL" >"$tmp/out" 2>"$tmp/err"
	pid=$!
	wait_for "$ck" $pid
	sleep "$(delay $i)"
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	reported=$(sed -n "s|^epoch \\([0-9]*\\)/$E:.*|\\1|p" "$tmp/out" | tail -n 1)
	saved=$(epoch_of "$ck")
	test "$saved" != none && test "$saved" -ge "${reported:-0}"
	ok $? "SIGKILL $i: the checkpoint loads and is not older than the last epoch reported (saved $saved, reported ${reported:-none})"
	is "$(ls "$tmp" | grep -c "^kill$i\.ckpt\.gz\.tmp\." | awk '{ print ($1 <= 1) }')" 1 \
		"SIGKILL $i: at most one temporary file left behind"
	run cnnrun --resume "$ck" -q -j 1 >"$tmp/out" 2>&1
	ok $? "SIGKILL $i: the run resumes"
	same "$tmp/straight.ckpt.gz" "$ck" "SIGKILL $i: and ends bit-identical to the straight run"
	i=$((i + 1))
done

# one_more CKPT: resumes CKPT (a copy of the straight run's checkpoint) for
# one more epoch, stderr in $tmp/err.
one_more() {
	run cnnrun --resume "$1" --set training.epochs=$((E + 1)) -q -j 1 \
		>"$tmp/out" 2>"$tmp/err"
}

# failed_save STATUS WHAT CKPT REASON: one_more CKPT exited with STATUS; its
# first save must have failed with REASON: exit 1 and one line, the old file
# intact, no temporary file left.
failed_save() {
	is "$1:$(cat "$tmp/err")" "1:$3: cannot write checkpoint: $4" \
		"$2: exit 1 and one line naming the checkpoint"
	shift
	cmp -s "$tmp/straight.ckpt.gz" "$2"
	ok $? "$1: the previous checkpoint is intact"
	is "$(ls "$(dirname "$2")" | grep -c '\.tmp\.')" 0 "$1: no temporary file is left"
}

# --- a file-size limit (ulimit -f): the save fails, the old file stays -------
mkdir "$tmp/limit"
cp "$tmp/straight.ckpt.gz" "$tmp/limit/c.ckpt.gz"
(
	ulimit -f 16 # 8 or 16 KiB, by the shell's unit; a checkpoint is ~260 KiB
	one_more "$tmp/limit/c.ckpt.gz"
)
failed_save $? "a file-size limit" "$tmp/limit/c.ckpt.gz" "File too large"

# --- a device that is always full: refused before training ------------------
run cnnrun $R -q -o /dev/full "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "1:/dev/full: cannot write checkpoint: not a regular file" \
	"-o /dev/full: exit 1 before training, one line"
run cnnrun $R -q -o "$tmp/no/such/folder/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "1:$tmp/no/such/folder/c.ckpt.gz: cannot write checkpoint: No such file or directory" \
	"a checkpoint in a missing folder: exit 1 before training, one line"

# --- a really full file system: a 512 KiB tmpfs, where mounting is allowed ---
mkdir "$tmp/small"
if mount -t tmpfs -o size=512k tmpfs "$tmp/small" 2>/dev/null; then
	trap 'umount "$tmp/small" 2>/dev/null; rm -rf "$tmp"' EXIT
	cp "$tmp/straight.ckpt.gz" "$tmp/small/c.ckpt.gz"
	# fill what is left (dd stops at ENOSPC)
	dd if=/dev/zero of="$tmp/small/fill" bs=4096 2>/dev/null
	one_more "$tmp/small/c.ckpt.gz"
	failed_save $? "a full file system" "$tmp/small/c.ckpt.gz" \
		"No space left on device"
	umount "$tmp/small"
else
	for t in 1 2 3; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP a full tmpfs: mounting is not allowed here"
	done
fi

# --- a checkpoint of format version 1 still loads and resumes --------------
# t/data/v1.ckpt.gz: t/data/tiny.yaml trained for 2 epochs by libcnn 0.1.0
# before format 2; v1.tensors.txt holds its weights as cnninspect printed them.
V1="$top_srcdir/t/data/v1.ckpt.gz"
run cnninspect "$V1" >"$tmp/out" 2>"$tmp/err"
ok $? "a version 1 checkpoint loads"
grep -q '^format version: 1$' "$tmp/out" && grep -q '^  epoch: *2 of 2$' "$tmp/out"
ok $? "cnninspect shows its version and epoch"
for t in dense1.weight dense1.bias dense2.weight dense2.bias; do
	run cnninspect --tensor $t "$V1"
done >"$tmp/v1.txt" 2>&1
cmp -s "$tmp/v1.txt" "$top_srcdir/t/data/v1.tensors.txt"
ok $? "its tensors hold the values saved"
tiny="$top_srcdir/t/data/tiny.csv"
run cnnrun --resume "$V1" -o "$tmp/v2.ckpt.gz" --set training.epochs=3 \
	--set data.train.path="$tiny" --set data.test.path="$tiny" >"$tmp/out" 2>"$tmp/err"
ok $? "it resumes (and is saved as version 2)"
grep -q '^epoch 3/3: ' "$tmp/out"
ok $? "at epoch 3"

done_testing
