# t/mpi.sh - training over several processes (`mpirun -np N cnnrun`):
# bit-identical to one process for the reference model and resnet_tiny at
# 2 and 3 processes, resume from one process to two and back, a
# configuration error said once with status 2, a data file missing in one
# process, and a process killed mid-run. Skipped without a build with MPI
# or without mpirun; not run under valgrind or the sanitizers.
. "$top_srcdir/t/lib.sh"

N=11
if ! grep -q '^#define HAVE_MPI 1' "$top_builddir/config.h"; then
	skip $N "built without MPI (./configure --with-mpi; Debian: libopenmpi-dev)"
	done_testing
	exit
fi
if ! command -v mpirun >/dev/null 2>&1; then
	skip $N "no mpirun (Debian: openmpi-bin)"
	done_testing
	exit
fi
if [ -n "$CNN_WRAP$CNN_ASAN" ]; then
	skip $N "not under valgrind or the sanitizers"
	done_testing
	exit
fi
# as root (containers, CI) Open MPI needs to be told; shared memory
# without the kernel's single-copy mechanism, which containers lack
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
CNNRUN="$top_builddir/tools/cnnrun"
MPIRUN="mpirun --oversubscribe --bind-to none"
SMALL="--set data.train.limit=1000 --set data.test.limit=500"


run cnnrun -q -j 1 $SMALL --set training.epochs=2 -o "$tmp/one.gz" "$MODEL"
$MPIRUN -np 2 "$CNNRUN" -q $SMALL --set training.epochs=2 \
	-o "$tmp/two.gz" "$MODEL" >"$tmp/out" 2>&1
is $? 0 "mpirun -np 2 trains the reference model"
same "$tmp/one.gz" "$tmp/two.gz" "2 processes: bit-identical to one"
$MPIRUN -np 3 "$CNNRUN" -q -j 1 $SMALL --set training.epochs=2 \
	-o "$tmp/three.gz" "$MODEL" >"$tmp/out" 2>&1
same "$tmp/one.gz" "$tmp/three.gz" "3 processes: bit-identical to one"

R="$top_srcdir/models/resnet_tiny.yaml"
RS="--set data.train.limit=512 --set data.test.limit=256 --set training.epochs=1"
run cnnrun -q -j 2 $RS -o "$tmp/r1.gz" "$R"
$MPIRUN -np 2 "$CNNRUN" -q $RS -o "$tmp/r2.gz" "$R" >"$tmp/out" 2>&1
same "$tmp/r1.gz" "$tmp/r2.gz" "resnet_tiny (batchnorm), 2 processes: bit-identical"

# resume: one process for epoch 1, two for epoch 2, and the reverse
run cnnrun -q -j 1 $SMALL --set training.epochs=1 -o "$tmp/a.gz" "$MODEL"
$MPIRUN -np 2 "$CNNRUN" -q --resume "$tmp/a.gz" \
	--set training.epochs=2 >"$tmp/out" 2>&1
same "$tmp/one.gz" "$tmp/a.gz" "resumed by 2 processes from 1: bit-identical"
$MPIRUN -np 2 "$CNNRUN" -q $SMALL --set training.epochs=1 \
	-o "$tmp/b.gz" "$MODEL" >"$tmp/out" 2>&1
run cnnrun -q -j 2 --resume "$tmp/b.gz" --set training.epochs=2
same "$tmp/one.gz" "$tmp/b.gz" "resumed by 1 process from 2: bit-identical"

# a configuration error: status 2, said once
$MPIRUN -np 2 "$CNNRUN" -q --set training.batch_size=sixty "$MODEL" \
	>"$tmp/out" 2>"$tmp/err"
is $? 2 "a configuration error under 2 processes exits 2"
is "$(grep -c 'training.batch_size: expected a positive integer' "$tmp/err")" 1 \
	"and its message is printed once"

# a data file missing in process 1 only (an MPMD job): the job stops
rm -f "$tmp/m.gz"
$MPIRUN -np 1 "$CNNRUN" -q $SMALL -o "$tmp/m.gz" "$MODEL" : \
	-np 1 "$CNNRUN" -q $SMALL --set data.train.images="$tmp/none.gz" \
	-o "$tmp/m.gz" "$MODEL" >"$tmp/out" 2>"$tmp/err"
s=$?
ok $([ $s -ne 0 ] &&
	[ "$(grep -c "none.gz: .*(process 1 of 2" "$tmp/err")" = 1 ] &&
	[ ! -e "$tmp/m.gz" ]; echo $?) \
	"a data file missing in one process: exit $s, named once, nothing written"

# a process killed mid-run: the job ends within seconds, the checkpoint
# on disk still loads
$MPIRUN -np 2 "$CNNRUN" -q --set training.epochs=50 \
	--set checkpoint.every_batches=20 -o "$tmp/k.gz" "$MODEL" \
	>"$tmp/out" 2>&1 &
job=$!
i=0
while [ ! -e "$tmp/k.gz" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
# the newest rank of this job only: its command line names this test's
# folder (another test run beside this one has its own)
pkill -KILL -f -n "every_batches=20 -o $tmp/k.gz"
t0=$(date +%s)
wait $job
s=$?
ok $([ $s -ne 0 ] && [ $(($(date +%s) - t0)) -le 20 ]; echo $?) \
	"a killed process ends the job (status $s) within 20 s"
run cnninspect "$tmp/k.gz" >/dev/null 2>&1
is $? 0 "the checkpoint on disk still loads"

done_testing
