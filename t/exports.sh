# t/exports.sh - libcnn.so exports the public API and nothing else: the
# functions include/cnn.h declares (each marked CNN_API) are exactly the
# functions (T symbols) of `nm -D --defined-only lib/.libs/libcnn.so`.
# Skipped without a shared library (./configure --disable-shared) or nm.
. "$top_srcdir/t/lib.sh"

so="$top_builddir/lib/.libs/libcnn.so"
header="$top_srcdir/include/cnn.h"

# skip REASON: the whole test cannot run here.
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

command -v nm >/dev/null 2>&1 || skip_all "no nm"
[ -f "$so" ] || skip_all "no shared library ($so; --disable-shared?)"

# The declared functions: the declarations start at column 0 (comments and
# the usage example in the header's top comment do not); the name is the
# first cnn_ identifier followed by '('.
grep '^[A-Za-z]' "$header" | grep -v '^typedef\|^#' |
	grep -o 'cnn_[A-Za-z0-9_]*(' | sed 's/($//' | sort -u >"$tmp/declared"
grep '^CNN_API ' "$header" | grep -o 'cnn_[A-Za-z0-9_]*(' | sed 's/($//' |
	sort -u >"$tmp/marked"
nm -D --defined-only "$so" >"$tmp/nm"
ok $? "nm -D --defined-only libcnn.so exits 0"
awk '$2 == "T" { print $3 }' "$tmp/nm" | sed 's/@.*//' | sort -u \
	>"$tmp/exported"

n=$(lines "$tmp/declared")
[ "$n" -gt 0 ]
ok $? "cnn.h declares functions ($n)"

diff "$tmp/declared" "$tmp/marked" >"$tmp/unmarked"
ok $? "every function cnn.h declares is marked CNN_API"
sed 's/^/# /' "$tmp/unmarked"

comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
is "$(lines "$tmp/missing")" 0 "libcnn.so exports every function of cnn.h"
sed 's/^/#   not exported: /' "$tmp/missing"

comm -13 "$tmp/declared" "$tmp/exported" >"$tmp/extra"
is "$(lines "$tmp/extra")" 0 "libcnn.so exports no function cnn.h does not declare"
sed 's/^/#   exported but not in cnn.h: /' "$tmp/extra"

# Nor data (the layer tables, say): only functions are public.
awk '$2 ~ /^[BDGRSV]$/ { print $3 }' "$tmp/nm" >"$tmp/data"
is "$(lines "$tmp/data")" 0 "libcnn.so exports no data symbol"
sed 's/^/#   data: /' "$tmp/data"

done_testing
