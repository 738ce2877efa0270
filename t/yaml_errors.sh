# t/yaml_errors.sh - every invalid model description in t/errors/ fed to
# cnnrun: exit status 2 and exactly the one line in NAME.expected on stderr.
. "$top_srcdir/t/lib.sh"

cd "$top_srcdir" || exit 99
built tools/cnnrun
for y in t/errors/*.yaml; do
	name=${y%.yaml}
	[ -f "$name.expected" ] || continue
	timeout 120 env "$exe_env" $CNN_WRAP "$exe_prog" \
		-o "$tmp/never.ckpt.gz" "$y" >"$tmp/out" 2>"$tmp/err"
	is "$?" 2 "$y: exit status 2"
	is "$(cat "$tmp/err")" "$(cat "$name.expected")" "$y: message"
	test ! -e "$tmp/never.ckpt.gz"
	ok $? "$y: no checkpoint written"
done

done_testing
