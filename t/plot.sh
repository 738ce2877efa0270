# t/plot.sh - the SVG learning curves as other programs see them: every
# chart t/test_plot writes (no epoch, one, 50, 200 and 10000 epochs, gaps,
# huge and NaN losses, a title full of XML specials) must be well-formed
# XML for xmllint and render to a non-empty PNG with rsvg-convert.
. "$top_srcdir/t/lib.sh"

exe t/test_plot "$tmp/svg" \
	>"$tmp/out" 2>"$tmp/err"
ok $? "t/test_plot writes the charts"
grep -q '^not ok' "$tmp/out"
ok $((!$?)) "... and all its checks pass"

have_xmllint=0
have_rsvg=0
command -v xmllint >/dev/null 2>&1 && have_xmllint=1
command -v rsvg-convert >/dev/null 2>&1 && have_rsvg=1
for name in empty one run50 train_only gaps huge nan inf title long_title \
	no_title run200 run10000; do
	svg="$tmp/svg/$name.svg"
	test -s "$svg"
	ok $? "$name.svg is written"
	if [ $have_xmllint -eq 1 ]; then
		xmllint --noout "$svg" >"$tmp/lint" 2>&1
		ok $? "$name.svg is well-formed XML"
		[ -s "$tmp/lint" ] && sed 's/^/#   /' "$tmp/lint"
	else
		ok 0 "$name.svg is well-formed XML # SKIP no xmllint"
	fi
	if [ $have_rsvg -eq 1 ]; then
		rm -f "$tmp/x.png"
		rsvg-convert -o "$tmp/x.png" "$svg" >"$tmp/rsvg" 2>&1
		_st=$?
		test $_st -eq 0 && test -s "$tmp/x.png"
		ok $? "$name.svg renders to a PNG"
		[ $_st -ne 0 ] && sed 's/^/#   /' "$tmp/rsvg"
	else
		ok 0 "$name.svg renders to a PNG # SKIP no rsvg-convert"
	fi
done

done_testing
