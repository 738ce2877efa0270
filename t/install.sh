# t/install.sh - `make install` into a scratch DESTDIR: the library, its
# header and pkg-config file, the tools, the models, the man pages and the
# documentation land where the build's prefix says; the installed example
# builds with its own Makefile through pkg-config against the installed
# tree alone, and classifies a digit; an installed man page renders.
. "$top_srcdir/t/lib.sh"

: "${MAKE:=make}"
root="$tmp/root"

# mkvar NAME: the value of a variable of the build's Makefile, with the
# $(x) and ${x} references in it expanded (prefix, libdir, docdir, ...).
mkvar() {
	_v=$(sed -n "s/^$1 = //p" "$top_builddir/Makefile" | head -n 1)
	while :; do
		_r=$(printf '%s\n' "$_v" |
			sed -n 's/^[^$]*\$[({]\([A-Za-z_][A-Za-z0-9_]*\)[)}].*/\1/p')
		[ -n "$_r" ] || break
		_x=$(mkvar "$_r")
		_v=$(printf '%s\n' "$_v" | sed "s|\\\$[({]$_r[)}]|$_x|g")
	done
	printf '%s\n' "$_v"
}

prefix=$(mkvar prefix)
bindir=$(mkvar bindir)
libdir=$(mkvar libdir)
includedir=$(mkvar includedir)
mandir=$(mkvar mandir)
docdir=$(mkvar docdir)
pkgdatadir=$(mkvar pkgdatadir)
case $prefix in
/*) ok 0 "the build's prefix is $prefix" ;;
*) ok 1 "the build's prefix is an absolute path (got '$prefix')" ;;
esac

# Install. Not a recursive make of ours: the jobserver of `make -j2 check`
# and its command-line variables are not passed on. Everything is built
# already (`make check` builds all first), so nothing is rebuilt.
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$top_builddir" && $MAKE -s install DESTDIR="$root"
) >"$tmp/install.log" 2>&1
st=$?
ok $st "make install DESTDIR=... exits 0"
[ $st -eq 0 ] || sed 's/^/# /' "$tmp/install.log"

# The files, where the prefix puts them.
for f in "$bindir/cnnrun" "$bindir/cnninspect"; do
	test -x "$root$f"
	ok $? "installed: $f"
done
test ! -e "$root$bindir/classify"
ok $? "the example program is not installed as a binary"
shared=$($LIBTOOL --config | sed -n 's/^build_libtool_libs=//p')
static=$($LIBTOOL --config | sed -n 's/^build_old_libs=//p')
if [ "$shared" = yes ]; then
	ls "$root$libdir"/libcnn.so* >/dev/null 2>&1
	ok $? "installed: $libdir/libcnn.so*"
else
	skip 1 "shared libraries are disabled"
fi
if [ "$static" = yes ]; then
	test -f "$root$libdir/libcnn.a"
	ok $? "installed: $libdir/libcnn.a"
else
	skip 1 "static libraries are disabled"
fi
cmp -s "$top_srcdir/include/cnn.h" "$root$includedir/cnn.h"
ok $? "installed: $includedir/cnn.h"
for f in "$libdir/pkgconfig/libcnn.pc" \
	"$mandir/man1/cnnrun.1" "$mandir/man1/cnninspect.1" \
	"$mandir/man5/cnn-model.5" \
	"$pkgdatadir/models/mnist_cnn.yaml" "$pkgdatadir/models/mlp.yaml" \
	"$pkgdatadir/models/lenet5.yaml" "$pkgdatadir/models/resnet_tiny.yaml" \
	"$pkgdatadir/models/lenet5_finetune.yaml" \
	"$docdir/api.md" "$docdir/examples/classify.c" \
	"$docdir/examples/idx2folder.c" \
	"$docdir/examples/Makefile" \
	"$pkgdatadir/data/mnist/train-images-idx3-ubyte.gz" \
	"$pkgdatadir/data/mnist/train-labels-idx1-ubyte.gz" \
	"$pkgdatadir/data/mnist/t10k-images-idx3-ubyte.gz" \
	"$pkgdatadir/data/mnist/t10k-labels-idx1-ubyte.gz" \
	"$pkgdatadir/data/mnist/README.md"; do
	test -s "$root$f"
	ok $? "installed: $f"
done
"$root$bindir/cnnrun" --version >"$tmp/out" 2>&1 ||
	LD_LIBRARY_PATH="$root$libdir" "$root$bindir/cnnrun" --version >"$tmp/out" 2>&1
grep -q '^cnnrun (libcnn) [0-9]' "$tmp/out"
ok $? "the installed cnnrun runs"

# pkg-config finds the installed libcnn (and only there: the sysroot
# prefixes every path it gives).
PKG_CONFIG=$(mkvar PKG_CONFIG)
: "${PKG_CONFIG:=pkg-config}"
PKG_CONFIG_PATH="$root$libdir/pkgconfig"
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
is "$($PKG_CONFIG --modversion libcnn 2>&1)" "$(mkvar PACKAGE_VERSION)" \
	"pkg-config --modversion libcnn"
$PKG_CONFIG --cflags libcnn 2>&1 | grep -q -- "^-I$root$includedir\( \|\$\)"
ok $? "pkg-config --cflags libcnn names the installed headers first"
$PKG_CONFIG --libs libcnn 2>&1 | grep -q -- "-L$root$libdir -lcnn"
ok $? "pkg-config --libs libcnn names the installed library"

# The installed models train as they are: their data is installed beside
# them, where their ../data/mnist/ points (the --set options only shorten
# the run; -o because the shared folder is not the user's to write).
datadir=$($PKG_CONFIG --variable=datadir libcnn)
case $datadir in "$root"/*) ;; *) datadir=$root$datadir ;; esac
is "$datadir" "$root$(mkvar datadir)" "pkg-config --variable=datadir libcnn"
LD_LIBRARY_PATH="$root$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	"$root$bindir/cnnrun" -q $QUICK -o "$tmp/i.ckpt.gz" \
	"$datadir/libcnn/models/mnist_cnn.yaml" >"$tmp/out" 2>&1
is "$?:$(cat "$tmp/out")" "0:" "the installed mnist_cnn.yaml trains on the installed MNIST files"

# Build the installed example with its own Makefile, as a user would, with
# the build's compiler and flags (so that a sanitizer build links).
cp -R "$root$docdir/examples" "$tmp/ex"
ldflags=$(mkvar LDFLAGS)
pc=$PKG_CONFIG
if [ "$shared" != yes ]; then
	# only libcnn.a: its private dependencies and OpenMP are needed too
	pc="$PKG_CONFIG --static"
	ldflags="$ldflags $(mkvar OPENMP_CFLAGS)"
fi
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$tmp/ex" && $MAKE CC="$(mkvar CC)" \
		CFLAGS="$(mkvar CFLAGS) -Wall -Wextra -Werror" \
		LDFLAGS="$ldflags" PKG_CONFIG="$pc"
) >"$tmp/build.log" 2>&1
st=$?
ok $st "the installed examples/Makefile builds classify"
[ $st -eq 0 ] || sed 's/^/# /' "$tmp/build.log"
grep -q -- "--cflags libcnn" "$tmp/build.log" &&
	grep -q -- "--libs libcnn" "$tmp/build.log"
ok $? "with the flags pkg-config gives"

# Run it on a tiny checkpoint and an MNIST digit.
run cnnrun $QUICK -q -o "$tmp/c.ckpt.gz" "$MODEL" >"$tmp/out" 2>&1
ok $? "a tiny checkpoint trains"
{ printf 'P5\n28 28\n255\n'
  gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 784; } >"$tmp/digit.pgm"
LD_LIBRARY_PATH="$root$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	$CNN_WRAP "$tmp/ex/classify" "$tmp/c.ckpt.gz" "$tmp/digit.pgm" >"$tmp/out" 2>"$tmp/err"
is "$?:$(cat "$tmp/err")" "0:" "the installed example runs"
run cnnrun --predict "$tmp/c.ckpt.gz" "$tmp/digit.pgm" >"$tmp/pred" 2>&1
want=$(sed -n "s|^$tmp/digit.pgm: \([0-9]*\) \([0-9.]*\)\$|$tmp/digit.pgm: class \1 (probability \2)|p" "$tmp/pred")
is "$(cat "$tmp/out")" "$want" "and prints what cnnrun --predict says"
if [ "$shared" = yes ] && command -v ldd >/dev/null 2>&1 && [ -z "$CNN_ASAN" ]; then
	LD_LIBRARY_PATH="$root$libdir" ldd "$tmp/ex/classify" >"$tmp/ldd" 2>&1
	grep -q "libcnn\.so.* => $root$libdir/libcnn\.so" "$tmp/ldd"
	ok $? "it uses the installed shared library"
else
	skip 1 "no shared library, ldd or a sanitizer build"
fi

# An installed page renders with man(1).
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 MANPAGER=cat PAGER=cat man -l "$root$mandir/man1/cnnrun.1" \
		>"$tmp/man" 2>"$tmp/man.err"
	grep -q 'cnnrun - train' "$tmp/man" && grep -q -- '--metrics' "$tmp/man"
	ok $? "man -l renders the installed cnnrun(1)"
	MANWIDTH=80 MANPAGER=cat PAGER=cat man -l "$root$mandir/man5/cnn-model.5" \
		>"$tmp/man" 2>"$tmp/man.err"
	grep -q 'early_stopping' "$tmp/man"
	ok $? "man -l renders the installed cnn-model(5)"
else
	skip 1 "man is not installed"
	skip 1 "man is not installed"
fi

done_testing
