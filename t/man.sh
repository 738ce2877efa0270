# t/man.sh - the man pages: groff reads each without a warning, each names
# the version the tools report, and each option that `cnnrun --help` and
# `cnninspect --help` list is documented in its page, and the reverse (so
# the pages keep in step with the tools, whatever options they gain).
. "$top_srcdir/t/lib.sh"

DOC="$top_srcdir/doc"
if ! command -v groff >/dev/null 2>&1; then
	echo "1..0 # SKIP groff is not installed (Debian: groff-base)"
	exit 0
fi

# render PAGE: the page as plain ASCII text, on lines long enough that no
# option is broken or hyphenated.
render() {
	groff -man -Tascii -P-cbou -rLL=250n -rHY=0 "$1" 2>/dev/null
}

# has TEXT OPTION: whether OPTION occurs in TEXT as a whole word ("--metrics"
# does not match "--metrics-csv").
has() {
	printf '%s\n' "$1" | grep -q -E -e "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)"
}

# options: the options in a help text or a page's OPTIONS section on stdin,
# long ("--set") and short ("-s"), one a line.
options() {
	sed 's/\(^\|[ [,(]\)\(-[A-Za-z]\)\([, ]\|$\)/\1\n\2\n/g' |
		grep -o -E -e '^-[A-Za-z]$' -e '--[a-z][a-z0-9-]*' | sort -u
}

version=$(run cnnrun --version 2>&1 | sed -n 's/^cnnrun (libcnn) //p')
for page in cnnrun.1 cnninspect.1 cnnexport.1 cnn-model.5; do
	test -f "$DOC/$page"
	ok $? "$page exists"
	groff -man -ww -z -Tutf8 "$DOC/$page" >"$tmp/warn" 2>&1
	is "$?:$(cat "$tmp/warn")" "0:" "groff -man -ww: $page has no warning"
	name=${page%.*}
	sect=${page##*.}
	upper=$(echo "$name" | tr a-z A-Z)
	grep -q "^\.TH $upper $sect [0-9-]* \"libcnn $version\" " "$DOC/$page"
	ok $? "$page: .TH names $upper($sect) and libcnn $version"
	render "$DOC/$page" >"$tmp/$page.txt"
	grep -q '^NAME$' "$tmp/$page.txt" && grep -q '^SEE ALSO$' "$tmp/$page.txt"
	ok $? "$page renders with NAME and SEE ALSO"
done

for tool in cnnrun cnninspect cnnexport; do
	run $tool --help >"$tmp/$tool.help" 2>&1
	ok $? "$tool --help exits 0"
	options <"$tmp/$tool.help" >"$tmp/$tool.opts"
	test -s "$tmp/$tool.opts"
	ok $? "$tool --help lists options"
	text=$(cat "$tmp/$tool.1.txt")
	missing=
	for o in $(cat "$tmp/$tool.opts"); do
		has "$text" "$o" || missing="$missing $o"
	done
	is "$missing" "" "every option of $tool --help is in $tool.1"
	for s in SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
		grep -q "^$s\$" "$tmp/$tool.1.txt"
		ok $? "$tool.1 has the section $s"
	done
	# The reverse: the options the page's OPTIONS section documents (its
	# tags, indented by 7 columns) are all in --help.
	sed -n '/^OPTIONS$/,/^[A-Z]/p' "$tmp/$tool.1.txt" | grep '^       -' |
		options >"$tmp/$tool.page.opts"
	help=$(cat "$tmp/$tool.help")
	stale=
	for o in $(cat "$tmp/$tool.page.opts"); do
		has "$help" "$o" || stale="$stale $o"
	done
	is "$stale" "" "every option $tool.1 documents is in $tool --help"
done
grep -q '^FILES$' "$tmp/cnnrun.1.txt"
ok $? "cnnrun.1 has a FILES section"

# cnn-model(5) names every key of the model description's reference.
text=$(cat "$tmp/cnn-model.5.txt")
missing=
for k in name input layers loss optimizer training data checkpoint type \
	filters kernel stride padding bias weight_init bias_init units size \
	slope alpha rate momentum epsilon conv2d dense maxpool avgpool relu \
	flatten softmax sigmoid tanh leaky_relu elu global_avgpool dropout \
	batchnorm add concat zeros constant value uniform low high normal mean \
	std he xavier divide_by_sqrt fan_in fan_out fan_avg cross_entropy mse \
	reduction adam adamw sgd rmsprop learning_rate beta1 beta2 \
	epsilon_inside_sqrt bias_correction nesterov weight_decay clip_norm \
	schedule step exponential cosine step_epochs gamma min_lr \
	warmup_epochs epochs batch_size shuffle seed keep early_stopping \
	patience min_delta format idx csv images labels path header \
	label_column scale limit augment shift validation every every_batches; do
	has "$text" "$k" || missing="$missing $k"
done
is "$missing" "" "cnn-model.5 names every key and value of the reference"
grep -q '^EXAMPLES$' "$tmp/cnn-model.5.txt"
ok $? "cnn-model.5 has an EXAMPLES section"

done_testing
