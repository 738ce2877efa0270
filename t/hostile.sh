#!/bin/sh
# t/hostile.sh - hostile input: every reader (the YAML description, --set,
# the IDX, CSV and PGM readers, the checkpoint reader, the command lines) fed
# what it must refuse, as one table. Each row gives a name, the expected exit
# status, the expected stderr line and the command; the input it reads is
# generated in $tmp just before it, with printf, gzip, awk, head and tr (no
# python: CI machines may not have it).
# For every row:
#   - the exit status, and stderr is exactly that one line (row: the exact
#     text; rowlike: a shell pattern, where the text holds something that
#     changes, such as the memory available);
#   - the process was not killed by a signal;
#   - no checkpoint (nor a temporary file) was written.
# Every command runs under `ulimit -v 1048576` (1 GiB of address space) so
# that nothing can silently allocate gigabytes; not under valgrind
# ($CNN_WRAP) or AddressSanitizer ($CNN_ASAN), where the rows that only make
# sense with the cap are skipped.
#
# Exit status: 2 for what the user wrote or gave (the description, options,
# data), 1 for runtime failures (I/O, a damaged checkpoint, memory).
#
# `todo 'WHY'` before a row marks it as the behaviour a user should get but
# does not get yet (TAP TODO: it does not fail the suite). Once the library
# is fixed the row passes, which the TAP driver reports as XPASS, a failure:
# then remove the `todo` line.
#
# Invalid descriptions of static text live in t/errors/ (NAME.yaml and
# NAME.expected, fed to cnnrun by t/yaml_errors.sh and built by
# t/test_tree), not here:
#   wrong types: input_sequence, channels_mapping, units_bool,
#     layers_mapping, training_scalar, kernel_three, layer_not_mapping,
#     learning_rate_quoted, quoted_number, seed_negative, units_sixty,
#     bad_bool, bad_reduction, top_sequence, top_scalar
#   missing keys: missing_input, layer_without_type, input_without_width,
#     csv_without_path, conv_without_kernel, idx_without_labels,
#     layers_empty, empty, comments_only
#   unknown keys: unknown_top_key, input_unknown_key, optimizer_unknown_key,
#     training_unknown_key, dataset_unknown_key, init_unknown_key,
#     layer_key_typo, relu_with_units, unknown_layer_type, csv_with_images,
#     beta1_with_sgd, momentum_with_adam, empty_key, key_sequence
#   duplicated keys: duplicate_key, duplicate_top_key, duplicate_flow_key,
#     duplicate_layer_name
#   absurd sizes: units_huge (10^11), units_overflow (> 2^63), units_2p31,
#     filters_scientific (1e9), filters_2p32, batch_size_huge, epochs_huge,
#     height_huge, kernel_huge, input_too_large, dense_weights_2p31,
#     conv_unfolded_2p31, conv_output_2p31, classes_1000,
#     kernel_too_large, pool_too_large, softmax_first
#   zero and negative: units_zero, units_negative, kernel_zero,
#     kernel_negative, stride_zero, padding_negative, pool_size_zero,
#     pool_stride_zero, batch_size_zero, epochs_zero, negative_epochs,
#     learning_rate_zero, learning_rate_negative, beta1_negative,
#     beta1_one, beta2_one, epsilon_zero, momentum_one, scale_zero,
#     limit_negative, label_column_negative, label_column_past_row,
#     every_zero, validation_negative, validation_fractional_count,
#     init_low_high
#   NaN, infinity, single precision: learning_rate_nan, learning_rate_inf,
#     beta2_nan, scale_overflow, std_inf, learning_rate_hex,
#     learning_rate_huge, epsilon_tiny, scale_huge
#   YAML features: alias, anchor_only, alias_undefined, merge_key (anchors
#     and aliases are refused), tag_local, tag_python (only YAML's standard
#     tags), two_documents, after_document_end, yaml_2_0, syntax_error,
#     missing_colon, unterminated_string
#   names: layer_name_invalid, name_with_slash

# shellcheck source=t/lib.sh
. "$top_srcdir/t/lib.sh"

D=$tmp/in  # the inputs
K=$tmp/ck  # crafted checkpoints (*.cnn: never mistaken for one written)
O=$tmp/out # where -o points: must stay empty
mkdir "$D" "$K" "$O" || exit 99
CAP=1048576 # KiB

capped=0
if [ -z "$CNN_ASAN$CNN_WRAP" ]; then
	if (ulimit -v $CAP) 2>/dev/null; then
		capped=1
	else
		echo "# ulimit -v is not available: running without a memory cap"
	fi
fi

# ---------------------------------------------------------------------------
# The table's machinery

todo_next=''
cap_next=''
# todo WHY: the next row is expected to fail, for the reason WHY.
todo() { todo_next=$1; }
# needs_cap: the next row only makes sense under the memory cap.
needs_cap() { cap_next=1; }

# tap_todo STATUS NAME WHY: a TAP TODO point (a failure is not counted).
tap_todo() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2 # TODO $3"
	else
		echo "not ok $tap_n - $2 # TODO $3"
	fi
}

# tool TOOL ARGS...: runs a built tool under the memory cap, for at most 300
# seconds.
tool() {
	built "tools/$1"
	shift
	if [ "$capped" = 1 ]; then
		(ulimit -v $CAP &&
			exec timeout 300 env "$exe_env" $CNN_WRAP "$exe_prog" "$@")
	else
		timeout 300 env "$exe_env" $CNN_WRAP "$exe_prog" "$@"
	fi
}

# row NAME STATUS LINE TOOL ARGS...: runs TOOL ARGS; it must exit with
# STATUS and print exactly LINE on stderr ("" for nothing at all).
row() {
	_match=exact
	_row "$@"
}
# rowlike NAME STATUS PATTERN TOOL ARGS...: the same, LINE a shell pattern.
rowlike() {
	_match=glob
	_row "$@"
}
_row() {
	_name=$1 _want_st=$2 _want=$3
	shift 3
	_todo=$todo_next _cap=$cap_next
	todo_next='' cap_next=''
	if [ -n "$_cap" ] && [ "$capped" = 0 ]; then
		ok 0 "$_name # SKIP needs the memory cap (not under valgrind or ASan)"
		return
	fi
	tool "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	_st=$?
	_got=$(cat "$tmp/stderr")
	_n=$(lines "$tmp/stderr")
	_r=1
	if [ "$_st" -eq "$_want_st" ]; then
		if [ -z "$_want" ]; then
			[ -s "$tmp/stderr" ] || _r=0
		elif [ "$_n" -eq 1 ]; then
			if [ "$_match" = exact ]; then
				[ "$_got" = "$_want" ] && _r=0
			else
				# shellcheck disable=SC2254
				case $_got in $_want) _r=0 ;; esac
			fi
		fi
	fi
	if [ -n "$_todo" ]; then
		tap_todo $_r "$_name: exit $_want_st, one line" "$_todo"
	else
		ok $_r "$_name: exit $_want_st, one line"
	fi
	if [ $_r -ne 0 ]; then
		echo "#   want: $_want_st: $_want"
		echo "#   got:  $_st: $(head -c 600 "$tmp/stderr" | head -n 3)"
		[ "$_n" -le 1 ] || echo "#   ($_n lines on stderr)"
	fi
	# 124: timeout; above 128: a signal
	[ "$_st" -ne 124 ] && [ "$_st" -le 128 ]
	ok $? "$_name: not killed by a signal, no timeout"
	_left=$(cd "$tmp" && find . \( -name '*.ckpt.gz*' -o -name '*.tmp.*' \) \
		-print)
	[ -z "$_left$(ls -A "$O")" ]
	ok $? "$_name: no checkpoint written"
	if [ -n "$_left$(ls -A "$O")" ]; then
		echo "#   left: $_left $(ls -A "$O")"
		(cd "$tmp" && find . \( -name '*.ckpt.gz*' -o -name '*.tmp.*' \) \
			-exec rm -f {} +)
		rm -rf "${O:?}"/* "$O"/.[!.]*
	fi
}

# put FILE TEXT...: writes TEXT (printf %b: \n, \t, \0NNN) to $D/FILE.
put() {
	_f=$1
	shift
	printf '%b' "$@" >"$D/$_f"
}

# bytes B...: each B (0..255) as one byte.
bytes() {
	_s=
	for _b; do
		_s="$_s\\$((_b / 64))$((_b / 8 % 8))$((_b % 8))"
	done
	# shellcheck disable=SC2059
	printf "$_s"
}
le16() { bytes $(($1 & 255)) $(($1 >> 8 & 255)); }
le32() {
	bytes $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) \
		$(($1 >> 24 & 255))
}
be32() {
	bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) \
		$(($1 & 255))
}
# le64 LO [HI]: the 64-bit value HI * 2^32 + LO.
le64() {
	le32 "$1"
	le32 "${2:-0}"
}
zeros() { head -c "$1" /dev/zero; }
# repeat N CHAR: CHAR N times.
repeat() { head -c "$1" /dev/zero | tr '\0' "$2"; }

# ===========================================================================
# YAML: what t/errors/ cannot hold (generated, binary or huge) and --set

H='input: {channels: 1, height: 8, width: 8}\n'
L='layers:\n  - {type: dense, units: 2}\n  - {type: softmax}\n'

# yrow NAME STATUS TEXT: cnnrun on $D/NAME.yaml; TEXT follows the file name.
yrow() {
	row "yaml: $1" "$2" "$D/$1.yaml$3" cnnrun -o "$O/c.ckpt.gz" "$D/$1.yaml"
}
yrowlike() {
	rowlike "yaml: $1" "$2" "$D/$1.yaml$3" \
		cnnrun -o "$O/c.ckpt.gz" "$D/$1.yaml"
}

# Deep nesting: the limit is 32 levels; nothing may recurse deeper.
{ printf '%b' "$H$L" 'name: '; awk 'BEGIN { for (i = 0; i < 40; i++) printf "["
	for (i = 0; i < 40; i++) printf "]"; print "" }'; } >"$D/nest_flow_40.yaml"
yrow nest_flow_40 2 ':5:38: nesting deeper than 32 levels is not supported'
{ printf '%b' "$H$L" 'x:\n'; awk 'BEGIN { for (i = 1; i <= 40; i++) {
	for (j = 0; j < i; j++) printf " "; print "k:" } }'; } >"$D/nest_block_40.yaml"
yrow nest_block_40 2 ':37:33: nesting deeper than 32 levels is not supported'
{ printf '%b' "$H$L" 'name: '; repeat 100000 '['; echo; } >"$D/nest_100000.yaml"
yrow nest_100000 2 ':5:38: nesting deeper than 32 levels is not supported'
{ repeat 200000 '-' | sed 's/-/- /g'; echo x; } >"$D/nest_dashes.yaml"
yrow nest_dashes 2 ':1:65: nesting deeper than 32 levels is not supported'
{ printf '%b' "$H$L" 'x: '; repeat 100000 '{'; echo; } >"$D/nest_braces.yaml"
yrow nest_braces 2 ':5:5: mapping keys must be plain scalars, not mappings or sequences'

# Sizes: 16 MiB, 1,000,000 values, long keys and scalars, many keys.
{ printf '%b' "$H$L"; repeat 17000000 '#'; echo; } >"$D/huge_file.yaml"
yrow huge_file 2 ': the model description is larger than 16 MiB'
{ printf '%b' "$H$L" 'x: ['; awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "1,"
	print "1]" }'; } >"$D/values_1000001.yaml"
yrow values_1000001 2 ':5:1999981: more than 1000000 values in one description'
{ printf '%b' "$H$L" 'x: {'; awk 'BEGIN { for (i = 0; i < 70; i++) printf "k%d: 1, ", i
	print "k7: 2}" }'; } >"$D/keys_70_duplicate.yaml"
yrow keys_70_duplicate 2 ':5:555: duplicate key "k7"'
{ printf '%b' "$H$L"; repeat 100000 k; printf ': 1\n'; } >"$D/key_100000.yaml"
yrow key_100000 2 ":5:1: could not find the ':' after this key (a key and its ':' must be on one line, at most 1024 characters apart)"
{ printf '%b' "$H$L" '"'; repeat 1000 k; printf '": 1\n'; } >"$D/key_1000.yaml"
yrow key_1000 2 ':5:1: unknown key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk..." (expected one of: name, input, layers, loss, optimizer, training, data, checkpoint, init)'
{ printf '%b' "$H$L" 'name: '; repeat 1000000 n; echo; } >"$D/scalar_1000000.yaml"
yrow scalar_1000000 2 ':5:7: name: is too long (1000000 bytes, at most 63)'
{ printf '%b' "$H$L" 'data:\n  test: {images: '; repeat 5000 p
	printf ', labels: b}\n'; } >"$D/path_5000.yaml"
yrow path_5000 2 ':6:18: data.test.images: is too long (5000 bytes, at most 4095)'
{ printf '%b' "$H" 'layers:\n'; awk 'BEGIN { for (i = 0; i < 300; i++)
	print "  - {type: relu}" }'; printf '  - {type: dense, units: 2}\n  - {type: softmax}\n'; } >"$D/layers_302.yaml"
yrow layers_302 2 ':3:3: layers: 302 layers is too many (at most 256)'

# Models that need more memory than there is: a wide dense layer whose
# 2^28 weights fit the 2^31 limit but whose 7 GiB do not fit the cap,
# batches of 65536 samples of 2^26 pixels (32 TiB: refused everywhere), a
# padding that makes a 8x8 input 8199x8199 (63 GiB).
put gib_model.yaml 'input: {channels: 1, height: 1024, width: 1024}\n' \
	'layers:\n  - {type: dense, units: 256}\n  - {type: softmax}\n'
needs_cap
yrowlike gib_model 2 ':3:3: layers: the model needs 7.3 GiB of memory (5.0 GiB for its parameters and optimiser state, 2.3 GiB for batches of 32), more than the * available'
put tib_model.yaml 'input: {channels: 1, height: 8192, width: 8192}\n' \
	'layers:\n  - {type: maxpool, size: 4096}\n  - {type: dense, units: 2}\n' \
	'  - {type: softmax}\ntraining: {batch_size: 65536}\n'
yrowlike tib_model 2 ':3:3: layers: the model needs 32.0 TiB of memory (200 bytes for its parameters and optimiser state, 32.0 TiB for batches of 65536), more than the * available'
put pad_huge.yaml "$H" 'layers:\n  - {type: conv2d, filters: 2, kernel: 3, padding: 4096}\n' \
	'  - {type: dense, units: 2}\n  - {type: softmax}\n'
needs_cap
yrowlike pad_huge 2 ':3:3: layers: the model needs * of memory (*), more than the * available'
# An initial value beyond single precision makes every weight infinite.
put init_1e300.yaml "$H" 'layers:\n  - {type: dense, units: 2, weight_init: {type: constant, value: 1e300}}\n' \
	'  - {type: softmax}\n'
yrowlike init_1e300 2 ':3:*: dense.weight_init.value: *'

# Bytes that are not YAML text.
zeros 100 >"$D/nul_bytes.yaml"
yrow nul_bytes 2 ':1:1: control characters are not allowed'
put nul_in_value.yaml "$H" 'name: a\0b\n' "$L"
yrow nul_in_value 2 ':2:8: control characters are not allowed'
put utf8_leading.yaml "$H" 'name: \0377\0376\n' "$L"
yrow utf8_leading 2 ':2:7: invalid leading UTF-8 octet'
put utf8_trailing.yaml "$H" 'name: caf\0303\n' "$L"
yrow utf8_trailing 2 ':2:11: invalid trailing UTF-8 octet'
put utf8_overlong.yaml "$H" 'name: \0300\0200\n' "$L"
yrow utf8_overlong 2 ':2:7: invalid length of a UTF-8 sequence'
put utf8_surrogate.yaml "$H" 'name: \0355\0240\0200\n' "$L"
yrow utf8_surrogate 2 ':2:7: invalid Unicode character'
put tab_indent.yaml "$H" 'training:\n\tepochs: 3\n' "$L"
yrow tab_indent 2 ':3:1: found a tab character where YAML allows only spaces (indent with spaces)'
put bom.yaml '\0357\0273\0277' "$H" 'layers: 3\n'
yrow bom 2 ':2:9: layers: expected a list of layers, got "3"'

# Files that are not files.
row 'yaml: a directory' 1 "$D: cannot read the model description: Is a directory" \
	cnnrun -o "$O/c.ckpt.gz" "$D"
row 'yaml: a missing file' 1 "$D/missing.yaml: cannot open the model description: No such file or directory" \
	cnnrun -o "$O/c.ckpt.gz" "$D/missing.yaml"
row 'yaml: /dev/null' 2 '/dev/null: empty model description' \
	cnnrun -o "$O/c.ckpt.gz" /dev/null

# --set: bad paths and bad values.
put m.yaml "$H$L"
M=$D/m.yaml
srow() { # srow NAME LINE ASSIGNMENT: cnnrun --set ASSIGNMENT m.yaml
	row "--set: $1" 2 "$2" cnnrun -o "$O/c.ckpt.gz" --set "$3" "$M"
}
srow 'index past the end' '--set layers.9.units: index 9 is past the end of layers (2 items)' layers.9.units=3
srow 'index of 2^64' '--set layers.18446744073709551616.units: index 18446744073709551616 is past the end of layers (2 items)' layers.18446744073709551616.units=3
srow 'not an index' '--set layers.x.units: layers is a sequence: expected an index, got "x"' layers.x.units=3
srow 'through a scalar' '--set input.channels.x: input.channels is a scalar, not a mapping or a sequence' input.channels.x=1
srow 'no key' '--set: expected KEY=VALUE, got "=3"' =3
srow 'no =' '--set: expected KEY=VALUE, got "training.epochs"' training.epochs
srow 'empty segment' '--set: empty key segment in "a..b=1"' a..b=1
srow '40 segments' "--set $(repeat 40 a | sed 's/a/a./g')b: the key has more than 31 segments" "$(repeat 40 a | sed 's/a/a./g')b=1"
srow 'key not UTF-8' '--set: the key is not valid UTF-8' "$(printf 'na\377me=x')"
srow 'value not UTF-8' '--set name: invalid leading UTF-8 octet' "$(printf 'name=x\377')"
srow 'unknown key' '--set foo: unknown key "foo" (expected one of: name, input, layers, loss, optimizer, training, data, checkpoint, init)' foo=1
srow 'bad YAML' "--set training.epochs: did not find expected ',' or ']' (while parsing a flow sequence)" 'training.epochs=[1'
srow 'a mapping for an integer' '--set training.epochs: expected a positive integer, got a mapping' 'training.epochs={a: 1}'
srow 'an anchor' '--set training.epochs: anchors and aliases are not supported' 'training.epochs=&a 1'
srow 'an alias' '--set training.epochs: anchors and aliases are not supported' 'training.epochs=*a'
srow '40 levels' '--set training.epochs: nesting deeper than 32 levels is not supported' "training.epochs=$(repeat 40 '[')"
srow 'empty value' '--set training.epochs: expected a positive integer, got nothing' training.epochs=
srow 'units 10^11' '--set layers.0.units: dense.units: expected a positive integer of at most 16777216, got "100000000000"' layers.0.units=100000000000
srow 'a tag' '--set training.epochs: the tag "!e" is not supported (only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map)' 'training.epochs=!e 3'

# ===========================================================================
# Checkpoints: crafted version-1 content (doc/checkpoint.md) with valid
# CRC-32s, so that each check behind the CRC is reached. Offsets in the
# messages are those of this content: MODL at 12, STAT at 137, HIST at 214,
# the weight at 234, the bias at 307, END at 350.

# record TAG FILE [LEN_LO LEN_HI]: a record with FILE as its payload (and
# the length given, if any), then the CRC-32 of tag, length and payload: the
# first 4 bytes of gzip's trailer are that CRC, little-endian.
record() {
	{
		printf '%s' "$1"
		le64 "${3:-$(wc -c <"$2")}" "${4:-0}"
		cat "$2"
	} >"$tmp/rec"
	cat "$tmp/rec"
	gzip -c <"$tmp/rec" | tail -c 8 | head -c 4
}
# signature [VERSION]: the signature and the format version (1).
signature() {
	printf '\211CNN\r\n\032\n'
	le32 "${1:-1}"
}
# tens NAME ROLE DIM...: a TENS payload of zeros.
tens() {
	_n=$1 _r=$2
	shift 2
	le16 ${#_n}
	printf '%s' "$_n"
	bytes "$_r" $#
	_c=1
	for _d; do
		le32 "$_d"
		_c=$((_c * _d))
	done
	zeros $((4 * _c))
}

# The parts of a valid checkpoint of a 1x2x2 -> dense 2 -> softmax model.
printf 'name: tiny\ninput: {channels: 1, height: 2, width: 2}\nlayers:\n  - {type: dense, units: 2}\n  - {type: softmax}\n' >"$K/modl"
# STAT: epoch 1, epochs 1, step 1, RNG state 1 2 3 4, best epoch 0,
# best accuracy 0, has_best 0: 61 bytes.
{ le32 1; le32 1; le64 1; le64 1; le64 2; le64 3; le64 4; le32 0; zeros 9; } >"$K/stat"
le32 0 >"$K/hist"
tens dense1.weight 0 2 4 >"$K/w"
tens dense1.bias 0 2 >"$K/b"
: >"$K/none"
for _p in modl stat hist w b none; do
	case $_p in
	modl) _t=MODL ;; stat) _t=STAT ;; hist) _t=HIST ;; none) _t='END ' ;;
	*) _t=TENS ;;
	esac
	record "$_t" "$K/$_p" >"$K/$_p.rec"
done

# variant NAME [PART FILE]...: $K/NAME.cnn, the valid checkpoint with the
# payload of each PART (MODL, STAT, HIST, WEIGHT, BIAS) taken from FILE.
variant() {
	_name=$1
	shift
	for _p in modl stat hist w b; do
		cp "$K/$_p.rec" "$K/$_p.use"
	done
	while [ $# -ge 2 ]; do
		case $1 in
		MODL) record MODL "$2" >"$K/modl.use" ;;
		STAT) record STAT "$2" >"$K/stat.use" ;;
		HIST) record HIST "$2" >"$K/hist.use" ;;
		WEIGHT) record TENS "$2" >"$K/w.use" ;;
		BIAS) record TENS "$2" >"$K/b.use" ;;
		esac
		shift 2
	done
	{
		signature
		cat "$K/modl.use" "$K/stat.use" "$K/hist.use" "$K/w.use" \
			"$K/b.use" "$K/none.rec"
	} | gzip -c >"$K/$_name.cnn"
}
# crow NAME TEXT: cnninspect on $K/NAME.cnn: exit 1, "cnninspect: PATH: TEXT".
crow() {
	row "checkpoint: $1" 1 "cnninspect: $K/$1.cnn: $2" cnninspect "$K/$1.cnn"
}
crowlike() {
	rowlike "checkpoint: $1" 1 "cnninspect: $K/$1.cnn: $2" cnninspect "$K/$1.cnn"
}
# cgz NAME: $K/NAME.cnn, the gzip of stdin.
cgz() { gzip -c >"$K/$1.cnn"; }

variant good
row 'checkpoint: the crafted version-1 checkpoint loads' 0 '' cnninspect "$K/good.cnn"

# The file.
printf 'hello' >"$K/text.cnn"
crow text 'not a libcnn checkpoint (not gzip-compressed)'
: >"$K/empty.cnn"
crow empty 'checkpoint is truncated'
cp "$M" "$K/yaml.cnn"
row 'checkpoint: yaml' 2 "cnninspect: $K/yaml.cnn is a model description, not a checkpoint; train it with cnnrun $K/yaml.cnn" cnninspect "$K/yaml.cnn"
row 'checkpoint: a directory' 1 "cnninspect: $D: cannot read checkpoint: Is a directory" cnninspect "$D"
row 'checkpoint: a missing file' 1 "cnninspect: $K/missing.cnn: cannot open checkpoint: No such file or directory" cnninspect "$K/missing.cnn"
gzip -dc "$K/good.cnn" >"$K/plain.cnn"
crow plain 'not a libcnn checkpoint (not gzip-compressed)'
head -c 20 "$K/good.cnn" >"$K/cut_20.cnn"
crowlike cut_20 'checkpoint is truncated*'
{ bytes 31 139 8 224; tail -c +5 "$K/good.cnn"; } >"$K/gzip_flags.cnn"
crow gzip_flags 'checkpoint is damaged (gzip: reserved header flags set)'
{ bytes 31 139 7; tail -c +4 "$K/good.cnn"; } >"$K/gzip_method.cnn"
crow gzip_method 'checkpoint is damaged (gzip: unknown compression method)'
_size=$(wc -c <"$K/good.cnn")
{ head -c $((_size - 8)) "$K/good.cnn"; le32 0; tail -c 4 "$K/good.cnn"; } >"$K/gzip_crc.cnn"
crow gzip_crc 'checkpoint is damaged (gzip: checksum mismatch in the trailer)'
{ cat "$K/good.cnn"; printf 'junk'; } >"$K/gzip_junk.cnn"
crow gzip_junk "checkpoint is damaged (data after the end of the gzip stream, at byte $_size)"
# A gzip bomb: 1 GiB of zeros in 7 MB. A raw deflate stream of fixed
# Huffman codes: a literal 0, then matches of 258 bytes at distance 1 whose
# bits repeat every 13 bytes (2^19 times here), the end of the last match
# and end of block; then the CRC-32 and length of the 1082130691 zeros.
printf '\005\243\140\024\214\202\121\060\012\106\301\050\030' >"$tmp/pat"
for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19; do
	cat "$tmp/pat" "$tmp/pat" >"$tmp/pat2" && mv "$tmp/pat2" "$tmp/pat"
done
{
	bytes 31 139 8 0 0 0 0 0 0 255 99 24
	cat "$tmp/pat"
	bytes 5 0
	le32 $((0x697132ce))
	le32 1082130691
} >"$K/bomb.cnn"
rm -f "$tmp/pat"
# (refused after 12 bytes are inflated: no cap needed)
crow bomb 'not a libcnn checkpoint (bad signature)'

# The content: signature and version.
printf 'garbage' | cgz garbage
crow garbage 'not a libcnn checkpoint (bad signature)'
{ printf '\211CNN\n\032\n'; le32 1; } | cgz sig_lf
crow sig_lf 'not a libcnn checkpoint (bad signature)'
printf '\211CNN\r\n\032\n' | cgz sig_only
crow sig_only 'checkpoint is truncated (while reading the format version)'
signature 0 | cgz version_0
crow version_0 'bad checkpoint format version 0'
signature 99 | cgz version_99
crowlike version_99 'checkpoint format version 99 is newer than this libcnn supports (*)'
signature 4294967295 | cgz version_max
crowlike version_max 'checkpoint format version 4294967295 is newer than this libcnn supports (*)'
signature | cgz no_records
crow no_records 'checkpoint is truncated (the END record is missing)'
gzip -dc "$K/good.cnn" | head -c 100 | cgz content_cut
crow content_cut 'checkpoint is truncated (while reading record MODL at offset 12)'

# Records: lengths and structure.
{ signature; record MODL "$K/modl" 0 2147483648; } | cgz length_2p63
crow length_2p63 'checkpoint is truncated (while reading record MODL at offset 12)'
{ signature; record MODL "$K/modl" 4294967295 4294967295; } | cgz length_max
crow length_max 'checkpoint is truncated (while reading record MODL at offset 12)'
{ signature; record MODL "$K/modl" 5; } | cgz length_short
crow length_short 'checksum mismatch in record MODL at offset 12'
{ signature; record MODL "$K/modl"; record STAT "$K/stat"; record HIST "$K/hist"; record TENS "$K/w"; record TENS "$K/b"; } | cgz no_end
crow no_end 'checkpoint is truncated (the END record is missing)'
{ signature; record MODL "$K/modl"; record STAT "$K/stat"; record HIST "$K/hist"; record TENS "$K/w"; record TENS "$K/b"; record 'END ' "$K/none"; printf 'xxxxx'; } | cgz after_end
crow after_end 'checkpoint is damaged (5 bytes after the END record)'
{ signature; record MODL "$K/modl"; record STAT "$K/stat"; record HIST "$K/hist"; record TENS "$K/w"; record TENS "$K/b"; record 'END ' "$K/stat"; } | cgz end_payload
crow end_payload 'bad record END  at offset 350: wrong length'
{ signature; record MODL "$K/modl"; record MODL "$K/modl"; record STAT "$K/stat"; record HIST "$K/hist"; record TENS "$K/w"; record TENS "$K/b"; record 'END ' "$K/none"; } | cgz modl_twice
crow modl_twice 'duplicate record MODL at offset 137'
{ signature; record MODL "$K/modl"; record STAT "$K/stat"; record STAT "$K/stat"; record HIST "$K/hist"; record TENS "$K/w"; record TENS "$K/b"; record 'END ' "$K/none"; } | cgz stat_twice
crow stat_twice 'duplicate record STAT at offset 214'
{ signature; record MODL "$K/modl"; record STAT "$K/stat"; record HIST "$K/hist"; record XTRA "$K/none"; record 'END ' "$K/none"; } | cgz unknown_tag
crow unknown_tag 'bad record "XTRA" at offset 234: unknown record type'
{ signature; record STAT "$K/stat"; record HIST "$K/hist"; record TENS "$K/w"; record TENS "$K/b"; record 'END ' "$K/none"; } | cgz no_modl
crow no_modl 'the record MODL is missing'
{ signature; record MODL "$K/modl"; record STAT "$K/stat"; record TENS "$K/w"; record TENS "$K/b"; record 'END ' "$K/none"; } | cgz no_hist
crow no_hist 'the record HIST is missing'

# STAT and HIST.
head -c 60 "$K/stat" >"$K/p"
variant stat_60 STAT "$K/p"
crow stat_60 'bad record STAT at offset 137: wrong length'
{ cat "$K/stat"; printf x; } >"$K/p"
variant stat_62 STAT "$K/p"
crow stat_62 'bad record STAT at offset 137: wrong length'
{ le32 2147483648; tail -c +5 "$K/stat"; } >"$K/p"
variant stat_epoch_2p31 STAT "$K/p"
crow stat_epoch_2p31 'bad record STAT at offset 137: bad epoch count'
{ head -c 48 "$K/stat"; le32 2; zeros 9; } >"$K/p"
variant stat_best_after STAT "$K/p"
crow stat_best_after 'bad record STAT at offset 137: the best epoch is after the last'
{ head -c 60 "$K/stat"; bytes 2; } >"$K/p"
variant stat_has_best_2 STAT "$K/p"
crow stat_has_best_2 'bad record STAT at offset 137: bad has_best flag'
{ head -c 60 "$K/stat"; bytes 1; } >"$K/p"
variant stat_best_missing STAT "$K/p"
crow stat_best_missing 'tensor dense1.weight (best) is missing'
{ le32 2147483648; zeros 44; } >"$K/p"
variant hist_2p31 HIST "$K/p"
crow hist_2p31 'bad record HIST at offset 214: the length does not match the number of epochs'
{ le32 1000; zeros 44; } >"$K/p"
variant hist_short HIST "$K/p"
crow hist_short 'bad record HIST at offset 214: the length does not match the number of epochs'
{ le32 1; le32 4294967295; zeros 40; } >"$K/p"
variant hist_epoch HIST "$K/p"
crow hist_epoch 'bad record HIST at offset 214: bad epoch number'

# TENS.
tens dense1.weight 0 >"$K/p"
variant tens_ndim_0 WEIGHT "$K/p"
crow tens_ndim_0 'bad record TENS dense1.weight (weight) at offset 234: bad number of dimensions'
tens dense1.weight 0 1 1 2 4 1 >"$K/p"
variant tens_ndim_5 WEIGHT "$K/p"
crow tens_ndim_5 'bad record TENS dense1.weight (weight) at offset 234: bad number of dimensions'
{ le16 13; printf dense1.weight; bytes 0 2; le32 2; le32 0; } >"$K/p"
variant tens_dim_0 WEIGHT "$K/p"
crow tens_dim_0 'bad record TENS dense1.weight (weight) at offset 234: bad tensor dimension'
{ le16 13; printf dense1.weight; bytes 0 2; le32 2; le32 2147483648; } >"$K/p"
variant tens_dim_2p31 WEIGHT "$K/p"
crow tens_dim_2p31 'bad record TENS dense1.weight (weight) at offset 234: bad tensor dimension'
{ le16 13; printf dense1.weight; bytes 0 4; le32 2147483647; le32 2147483647; le32 2147483647; le32 2147483647; zeros 32; } >"$K/p"
variant tens_overflow WEIGHT "$K/p"
crow tens_overflow 'bad record TENS dense1.weight (weight) at offset 234: tensor too large'
{ le16 13; printf dense1.weight; bytes 0 2; le32 2; le32 4; zeros 31; } >"$K/p"
variant tens_data_short WEIGHT "$K/p"
crow tens_data_short "bad record TENS dense1.weight (weight) at offset 234: the tensor's data does not match its shape"
{ le16 0; bytes 0 1; le32 2; zeros 8; } >"$K/p"
variant tens_name_0 BIAS "$K/p"
crow tens_name_0 'bad record TENS at offset 307: bad tensor name length'
{ le16 300; repeat 300 a; bytes 0 1; le32 2; zeros 8; } >"$K/p"
variant tens_name_300 BIAS "$K/p"
crow tens_name_300 'bad record TENS at offset 307: bad tensor name length'
{ le16 11; printf 'dense1\000bias'; bytes 0 1; le32 2; zeros 8; } >"$K/p"
variant tens_name_nul BIAS "$K/p"
crow tens_name_nul 'bad record TENS dense1?bias (weight) at offset 307: bad tensor name'
{ le16 200; printf dense1.bias; } >"$K/p"
variant tens_name_past_end BIAS "$K/p"
crow tens_name_past_end "bad record TENS at offset 307: the record ends inside the tensor's name"
tens dense1.weight 7 2 4 >"$K/p"
variant tens_role_7 WEIGHT "$K/p"
crow tens_role_7 'bad record TENS dense1.weight at offset 234: unknown tensor role'

# The model description and the tensors against it.
printf 'name: tiny\000\n' >"$K/p"
variant modl_nul MODL "$K/p"
crow modl_nul 'bad record MODL at offset 12: the model description contains a NUL byte'
: >"$K/p"
variant modl_empty MODL "$K/p"
crow modl_empty 'bad record MODL at offset 12: the model description is empty'
printf 'name: [tiny\n' >"$K/p"
variant modl_syntax MODL "$K/p"
row 'checkpoint: modl_syntax' 1 "cnninspect: $K/modl_syntax.cnn:model:2:1: did not find expected ',' or ']' (while parsing a flow sequence starting at 1:7)" \
	cnninspect "$K/modl_syntax.cnn"
printf 'name: tiny\ninput: {channels: 1, height: 2, width: 2}\nlayers:\n  - {type: dense, units: 0}\n  - {type: softmax}\n' >"$K/p"
variant modl_invalid MODL "$K/p"
row 'checkpoint: modl_invalid' 1 "cnninspect: $K/modl_invalid.cnn:model:4:26: dense.units: expected a positive integer, got \"0\"" \
	cnninspect "$K/modl_invalid.cnn"
printf 'name: tiny\ninput: {channels: 1, height: 2, width: 2}\nlayers:\n  - {type: dense, units: 3}\n  - {type: softmax}\n' >"$K/p"
variant modl_other_shape MODL "$K/p"
crow modl_other_shape 'tensor dense1.weight (weight) has shape 2x4 in the checkpoint but 3x4 in its model'
tens dense1.bias 0 4 >"$K/p"
variant bias_shape BIAS "$K/p"
crow bias_shape 'tensor dense1.bias (weight) has shape 4 in the checkpoint but 2 in its model'
tens dense9.weight 0 2 4 >"$K/p"
variant tens_unknown WEIGHT "$K/p"
crow tens_unknown 'tensor dense9.weight in the checkpoint is not in its model'
variant tens_twice BIAS "$K/w"
crow tens_twice 'duplicate tensor dense1.weight (weight)'
tens dense1.bias 1 2 >"$K/p"
variant bias_moment_only BIAS "$K/p"
crow bias_moment_only 'tensor dense1.bias (weight) is missing'

# The same damage seen by cnnrun --evaluate and --resume.
row 'checkpoint: --evaluate, a bad record' 1 "$K/tens_ndim_5.cnn: bad record TENS dense1.weight (weight) at offset 234: bad number of dimensions" \
	cnnrun -j 1 --evaluate "$K/tens_ndim_5.cnn"
row 'checkpoint: --resume, HIST of 2^31 epochs' 1 "$K/hist_2p31.cnn: bad record HIST at offset 214: the length does not match the number of epochs" \
	cnnrun -j 1 --resume "$K/hist_2p31.cnn" -o "$O/c.ckpt.gz"
row 'checkpoint: --predict, not gzip' 1 "$K/text.cnn: not a libcnn checkpoint (not gzip-compressed)" \
	cnnrun -j 1 --predict "$K/text.cnn" "$M"
row 'checkpoint: --evaluate, a directory' 1 "$D: cannot read checkpoint: Is a directory" \
	cnnrun -j 1 --evaluate "$D"
row 'checkpoint: --evaluate, no test set' 2 "$K/good.cnn:model: data.test: missing: evaluation needs a test set" \
	cnnrun -j 1 --evaluate "$K/good.cnn"
row 'checkpoint: --evaluate --set a bad override' 2 '--set training.epochs: expected a positive integer, got "0"' \
	cnnrun -j 1 --evaluate "$K/good.cnn" --set training.epochs=0

# ===========================================================================
# IDX data (lib/data_idx.c), read by cnnrun --evaluate with the crafted
# checkpoint (1x2x2 images, 2 classes).

# idxrow NAME IMAGES LABELS STATUS TEXT: evaluates $D/IMAGES and $D/LABELS.
idxrow() {
	row "idx: $1" "$4" "$5" cnnrun -j 1 --evaluate "$K/good.cnn" \
		--set data.test.images="$D/$2" --set data.test.labels="$D/$3"
}
# idx3 COUNT ROWS COLS: an image header.
idx3() { be32 2051; be32 "$1"; be32 "$2"; be32 "$3"; }

{ idx3 2 2 2; zeros 8; } >"$D/images"
{ be32 2049; be32 2; bytes 0 1; } >"$D/labels"
gzip -c "$D/images" >"$D/images.gz"
gzip -c "$D/labels" >"$D/labels.gz"
idxrow 'plain files (valid)' images labels 0 ''
idxrow 'gzip files (valid)' images.gz labels.gz 0 ''
{ be32 2049; be32 2; be32 2; be32 2; zeros 8; } >"$D/magic_labels"
idxrow 'images with the label magic' magic_labels labels 2 "$D/magic_labels: not an IDX image file (magic 0x00000801, expected 0x00000803 or 0x00000804)"
idxrow 'labels with the image magic' images images 2 "$D/images: not an IDX label file (magic 0x00000803, expected 0x00000801)"
{ be32 3075; be32 2; be32 2; be32 2; zeros 32; } >"$D/type_int"
idxrow 'type byte 0x0C (int32)' type_int labels 2 "$D/type_int: not an IDX image file (magic 0x00000C03, expected 0x00000803 or 0x00000804)"
{ be32 2053; be32 2; be32 1; be32 1; be32 2; be32 2; zeros 8; } >"$D/dims_5"
idxrow '5 dimensions' dims_5 labels 2 "$D/dims_5: not an IDX image file (magic 0x00000805, expected 0x00000803 or 0x00000804)"
{ be32 2048; } >"$D/dims_0"
idxrow '0 dimensions' dims_0 labels 2 "$D/dims_0: not an IDX image file (magic 0x00000800, expected 0x00000803 or 0x00000804)"
{ idx3 1000 2 2; zeros 8; } >"$D/count_1000"
idxrow 'a count larger than the file' count_1000 labels 2 "$D/count_1000: header says 1000 images of 4 bytes but the file holds 8 bytes of data"
{ idx3 4294967295 2 2; zeros 8; } >"$D/count_max"
idxrow 'a count of 2^32-1' count_max labels 2 "$D/count_max: header says 4294967295 images of 4 bytes but the file holds 8 bytes of data"
{ idx3 4294967295 4294967295 4294967295; zeros 8; } >"$D/dims_max"
idxrow 'dimensions of 2^32-1 (their product overflows 64 bits)' dims_max labels 2 "$D/dims_max: images are 4294967295x4294967295, the model expects 2x2"
{ be32 2052; be32 2; be32 4294967295; be32 4294967295; be32 4294967295; zeros 8; } >"$D/channels_max"
idxrow '2^32-1 channels' channels_max labels 2 "$D/channels_max: images have 4294967295 channels, the model expects 1"
{ idx3 2 28 28; zeros 1568; } >"$D/mnist_size"
idxrow 'images of another size' mnist_size labels 2 "$D/mnist_size: images are 28x28, the model expects 2x2"
{ be32 2051; be32 2; be32 2; } >"$D/header_cut"
idxrow 'a header cut short' header_cut labels 2 "$D/header_cut: too short for an IDX header (12 bytes)"
{ idx3 0 2 2; } >"$D/count_0"
idxrow 'no images' count_0 labels 2 "$D/count_0: holds no images"
{ idx3 2 2 2; zeros 9; } >"$D/one_more"
idxrow 'a byte more than the header says' one_more labels 2 "$D/one_more: header says 2 images of 4 bytes but the file holds 9 bytes of data"
{ be32 2049; be32 3; bytes 0 1 0; } >"$D/labels_3"
idxrow '3 labels for 2 images' images labels_3 2 "$D/labels_3: holds 3 labels but $D/images holds 2 images"
{ be32 2049; be32 2; bytes 0 7; } >"$D/label_7"
idxrow 'a label out of range' images label_7 2 "$D/label_7: label 7 at index 1 is out of range 0..1"
head -c 30 "$D/images.gz" >"$D/cut.gz"
idxrow 'a gzip stream cut short' cut.gz labels 2 "$D/cut.gz: damaged gzip data (unexpected end of file)"
{ cat "$D/images.gz"; printf junk; } >"$D/junk.gz"
idxrow 'junk after the gzip stream' junk.gz labels 2 "$D/junk.gz: damaged gzip data (trailing garbage after the compressed data)"
{ head -c $(($(wc -c <"$D/images.gz") - 8)) "$D/images.gz"; le32 0; tail -c 4 "$D/images.gz"; } >"$D/crc.gz"
idxrow 'a gzip checksum mismatch' crc.gz labels 2 "$D/crc.gz: damaged gzip data (incorrect data check)"
# A gzip bomb: a valid header for one image, then 10 MB of zeros (10 kB).
{ idx3 1 2 2; zeros 10000000; } | gzip -c >"$D/bomb.gz"
idxrow 'a gzip bomb' bomb.gz labels 2 "$D/bomb.gz: header says 1 images of 4 bytes but the file holds more than 1048580 bytes of data"
zeros 10000000 | gzip -c >"$D/zeros.gz"
idxrow '10 MB of zeros' zeros.gz labels 2 "$D/zeros.gz: not an IDX image file (magic 0x00000000, expected 0x00000803 or 0x00000804)"
: >"$D/empty"
idxrow 'an empty file' empty labels 2 "$D/empty: too short for an IDX header (0 bytes)"
idxrow 'a directory' . labels 1 "$D/.: cannot read: Is a directory"
idxrow 'a missing file' missing labels 1 "$D/missing: cannot open: No such file or directory"

# ===========================================================================
# CSV data (lib/data_csv.c): the label, then 4 pixels (0..255) a row.

# csvrow NAME STATUS TEXT: evaluates $D/NAME.csv.
csvrow() {
	row "csv: $1" "$2" "$3" cnnrun -j 1 --evaluate "$K/good.cnn" \
		--set data.test.format=csv --set data.test.path="$D/$1.csv"
}
# csv NAME TEXT...: writes $D/NAME.csv.
csv() {
	_f=$1
	shift
	put "$_f.csv" "$@"
}

csv valid '0,1,2,3,4\n1,5,6,7,8\n'
csvrow valid 0 ''
csv crlf '0,1,2,3,4\r\n1,5,6,7,8\r\n'
csvrow crlf 0 ''
csv header 'label,a,b,c,d\n0,1,2,3,4\n'
csvrow header 0 ''
csv bom_header '\0357\0273\0277"label","a","b","c","d"\n0,1,2,3,4\n'
csvrow bom_header 0 ''
csv ragged_short '0,1,2,3,4\n1,5,6,7\n'
csvrow ragged_short 2 "$D/ragged_short.csv:2:5: row has 4 cells, expected 5"
csv ragged_long '0,1,2,3,4\n1,5,6,7,8,9\n'
csvrow ragged_long 2 "$D/ragged_long.csv:2:6: row has 6 cells, expected 5"
csv trailing_comma '0,1,2,3,4,\n'
csvrow trailing_comma 2 "$D/trailing_comma.csv:1:6: row has 6 cells, expected 5"
csv non_numeric '0,1,2,3,4\n1,5,x,7,8\n'
csvrow non_numeric 2 "$D/non_numeric.csv:2:3: cell \"x\" is not an integer"
csv fraction '0,1,2,3,4\n1,5,6.5,7,8\n'
csvrow fraction 2 "$D/fraction.csv:2:3: cell \"6.5\" is not an integer"
csv pixel_256 '0,1,2,3,4\n1,5,256,7,8\n'
csvrow pixel_256 2 "$D/pixel_256.csv:2:3: pixel value 256 is out of range 0..255"
csv pixel_huge '0,1,2,3,4\n1,5,99999999999999999999999999,7,8\n'
csvrow pixel_huge 2 "$D/pixel_huge.csv:2:3: pixel value 99999999999999999999999999 is out of range 0..255"
csv pixel_negative '0,1,2,3,4\n1,5,-1,7,8\n'
csvrow pixel_negative 2 "$D/pixel_negative.csv:2:3: pixel value -1 is out of range 0..255"
csv empty_cell '0,1,2,3,4\n1,5,,7,8\n'
csvrow empty_cell 2 "$D/empty_cell.csv:2:3: empty cell"
csv empty_line '0,1,2,3,4\n\n1,5,6,7,8\n'
csvrow empty_line 2 "$D/empty_line.csv:2:1: empty line (expected 5 cells)"
csv header_only 'label,a,b,c,d\n'
csvrow header_only 2 "$D/header_only.csv: holds no data rows"
csv empty ''
csvrow empty 2 "$D/empty.csv: holds no data rows"
csv label_2 '0,1,2,3,4\n2,5,6,7,8\n'
csvrow label_2 2 "$D/label_2.csv:2:1: label 2 is out of range 0..1"
csv label_negative '0,1,2,3,4\n-1,5,6,7,8\n'
csvrow label_negative 2 "$D/label_negative.csv:2:1: label -1 is out of range 0..1"
{ printf '0,1,2,3,4\n1,'; repeat 20000000 5; printf ',6,7,8\n'; } >"$D/line_20mb.csv"
csvrow line_20mb 2 "$D/line_20mb.csv:2:2: pixel value 5555555555555555555555555555555555555555... is out of range 0..255"
{ printf '0,1,2,3,4\n1'; repeat 20000000 ,; echo; } >"$D/commas_20m.csv"
csvrow commas_20m 2 "$D/commas_20m.csv:2:6: row has 20000001 cells, expected 5"
{ awk 'BEGIN { for (i = 0; i < 1000000; i++) print "0" }'; } >"$D/rows_1m_short.csv"
csvrow rows_1m_short 2 "$D/rows_1m_short.csv:1:2: row has 1 cells, expected 5"
csv nul '0,1,2,3,4\n1,5,\0,7,8\n'
csvrow nul 2 "$D/nul.csv:2:3: cell \"?\" is not an integer"
csv quoted '0,1,2,3,4\n1,"5",6,7,8\n'
csvrow quoted 2 "$D/quoted.csv:2:2: cell \"\"5\"\" is not an integer"
csv semicolons '0;1;2;3;4\n1;5;6;7;8\n'
csvrow semicolons 2 "$D/semicolons.csv:2:2: row has 1 cells, expected 5"
csv cr_only '0,1,2,3,4\r1,5,6,7,8\r'
row 'csv: cr_only' 2 "$D/cr_only.csv:1:10: a carriage return inside a line (lines must end with \\n or \\r\\n)" cnnrun -j 1 --evaluate "$K/good.cnn" \
	--set data.test.format=csv --set data.test.path="$D/cr_only.csv"
printf '0,1,2,3,4\n1,5,6,7,8\n' | gzip -c | head -c 20 >"$D/cut.csv.gz"
row 'csv: a gzip stream cut short' 2 "$D/cut.csv.gz: damaged gzip data (unexpected end of file)" \
	cnnrun -j 1 --evaluate "$K/good.cnn" --set data.test.format=csv \
	--set data.test.path="$D/cut.csv.gz"
row 'csv: a label column past the row' 2 '--set data.test.label_column: expected an integer from 0 to 4 (a row is the label and 4 pixels), got "5"' \
	cnnrun -j 1 --evaluate "$K/good.cnn" --set data.test.format=csv \
	--set data.test.path="$D/valid.csv" --set data.test.label_column=5
row 'csv: a directory' 1 "$D: cannot read: Is a directory" \
	cnnrun -j 1 --evaluate "$K/good.cnn" --set data.test.format=csv \
	--set data.test.path="$D"

# Bad training data: refused before anything is trained or saved.
put train_ragged.yaml 'input: {channels: 1, height: 2, width: 2}\n' "$L" \
	'training: {epochs: 1}\ndata:\n  train: {format: csv, path: ragged_short.csv}\n'
row 'csv: a ragged training set' 2 "$D/ragged_short.csv:2:5: row has 4 cells, expected 5" \
	cnnrun -j 1 "$D/train_ragged.yaml"
put train_labels.yaml 'input: {channels: 1, height: 2, width: 2}\n' "$L" \
	'training: {epochs: 1}\ndata:\n  train: {images: images, labels: label_7}\n'
row 'idx: a training label out of range' 2 "$D/label_7: label 7 at index 1 is out of range 0..1" \
	cnnrun -j 1 "$D/train_labels.yaml"

# ===========================================================================
# --predict: PGM images, IDX and CSV files

# pgmrow NAME STATUS TEXT: predicts $D/NAME.pgm.
pgmrow() {
	row "pgm: $1" "$2" "$3" cnnrun -j 1 --predict "$K/good.cnn" "$D/$1.pgm"
}
put valid.pgm 'P5\n2 2\n255\n\0001\0002\0003\0004'
pgmrow valid 0 ''
put size_huge.pgm 'P5\n65537 2\n255\n'
pgmrow size_huge 2 "$D/size_huge.pgm: PGM size 65537x2 is out of range (1..65536 each)"
put size_zero.pgm 'P5\n0 2\n255\n'
pgmrow size_zero 2 "$D/size_zero.pgm: PGM size 0x2 is out of range (1..65536 each)"
put maxval_0.pgm 'P5\n2 2\n0\n'
pgmrow maxval_0 2 "$D/maxval_0.pgm: PGM maxval 0 is out of range 1..255"
put maxval_16bit.pgm 'P5\n2 2\n65535\n'
pgmrow maxval_16bit 2 "$D/maxval_16bit.pgm: 16-bit PGM images are not supported (maxval 65535, expected 1..255)"
put raster_cut.pgm 'P5\n2 2\n255\n\0001'
pgmrow raster_cut 2 "$D/raster_cut.pgm: truncated PGM data (1 of 4 bytes)"
put ascii_big.pgm 'P2\n2 2\n255\n1 2 3 999\n'
pgmrow ascii_big 2 "$D/ascii_big.pgm: PGM value 999 at index 3 exceeds maxval 255"
put header_junk.pgm 'P5\n2x 2\n255\n'
pgmrow header_junk 2 "$D/header_junk.pgm: bad PGM header: width is not a number"
put other_size.pgm 'P5\n3 2\n255\n\0001\0002\0003\0004\0005\0006'
row 'pgm: other_size' 2 "$D/other_size.pgm: image is 3x2; the model expects 2x2 (set resize: bilinear to scale it)" \
	cnnrun -j 1 --predict "$K/good.cnn" "$D/other_size.pgm"
# --predict reads IDX and CSV files too.
row 'predict: IDX labels given as images' 2 "$D/labels: not an IDX image file (magic 0x00000801, expected 0x00000803 or 0x00000804)" \
	cnnrun -j 1 --predict "$K/good.cnn" "$D/labels"
row 'predict: a ragged CSV row' 2 "$D/ragged_short.csv:2:5: row has 4 cells, expected 5" \
	cnnrun -j 1 --predict "$K/good.cnn" "$D/ragged_short.csv"

# ===========================================================================
# Command lines

row 'cnnrun: an unknown option' 2 "cnnrun: unknown option '--frobnicate' (see cnnrun --help)" \
	cnnrun --frobnicate "$M"
row 'cnnrun: an unknown short option' 2 "cnnrun: unknown option '-x' (see cnnrun --help)" \
	cnnrun -x "$M"
row 'cnnrun: --set without its value' 2 "cnnrun: option '--set' needs a value (see cnnrun --help)" \
	cnnrun "$M" --set
row 'cnnrun: --evaluate without its value' 2 "cnnrun: option '--evaluate' needs a value (see cnnrun --help)" \
	cnnrun --evaluate
row 'cnnrun: --evaluate and --predict' 2 'cnnrun: --resume, --evaluate and --predict exclude each other (see cnnrun --help)' \
	cnnrun --evaluate "$K/good.cnn" --predict "$K/good.cnn" "$M"
row 'cnnrun: --resume and --evaluate' 2 'cnnrun: --resume, --evaluate and --predict exclude each other (see cnnrun --help)' \
	cnnrun --resume "$K/good.cnn" --evaluate "$K/good.cnn"
for _j in 0 1025 -1 99999999999999999999 '' 2x; do
	row "cnnrun: -j '$_j'" 2 "cnnrun: --threads: expected an integer from 1 to 1024, got \"$_j\" (see cnnrun --help)" \
		cnnrun -j "$_j" "$M"
done
for _k in 0 257 abc; do
	row "cnnrun: --top '$_k'" 2 "cnnrun: --top: expected a positive integer, got \"$_k\" (see cnnrun --help)" \
		cnnrun --top "$_k" --predict "$K/good.cnn" "$D/valid.pgm"
done
row 'cnnrun: --predict without a file' 2 'cnnrun: --predict needs at least one FILE (see cnnrun --help)' \
	cnnrun --predict "$K/good.cnn"
row 'cnnrun: a second model' 2 "cnnrun: unexpected argument '$M' (see cnnrun --help)" \
	cnnrun "$M" "$M"
row 'cnnrun: an argument after --evaluate' 2 "cnnrun: unexpected argument '$M' (see cnnrun --help)" \
	cnnrun --evaluate "$K/good.cnn" "$M"
row 'cnnrun: nothing' 2 'cnnrun: missing MODEL.yaml (see cnnrun --help)' cnnrun
row 'cnnrun: --evaluate a missing checkpoint' 1 "$K/missing.cnn: cannot open checkpoint: No such file or directory" \
	cnnrun --evaluate "$K/missing.cnn"
row 'cnnrun: --resume a missing checkpoint' 1 "$K/missing.cnn: cannot open checkpoint: No such file or directory" \
	cnnrun --resume "$K/missing.cnn"
row 'cnnrun: --predict a missing file' 1 "$D/missing.pgm: cannot open: No such file or directory" \
	cnnrun -j 1 --predict "$K/good.cnn" "$D/missing.pgm"
rowlike 'cnnrun: --json when training' 2 'cnnrun: --json *(see cnnrun --help)' \
	cnnrun --json -o "$O/c.ckpt.gz" "$M"
rowlike 'cnnrun: --top when evaluating' 2 'cnnrun: --top *(see cnnrun --help)' \
	cnnrun -j 1 --top 3 --evaluate "$K/good.cnn"

# Where the checkpoint and the metrics go: one tiny training step first.
put train.yaml 'input: {channels: 1, height: 2, width: 2}\n' "$L" \
	'training: {epochs: 1}\ndata:\n  train: {format: csv, path: valid.csv}\n'
row 'cnnrun: -o a directory' 1 "$O: cannot write checkpoint: not a regular file" \
	cnnrun -j 1 -q -o "$O" "$D/train.yaml"
test -d "$O"
ok $? "cnnrun: -o a directory: it is still a directory"
row 'cnnrun: -o /dev/null' 1 '/dev/null: cannot write checkpoint: not a regular file' \
	cnnrun -j 1 -q -o /dev/null "$D/train.yaml"
test -c /dev/null
ok $? "cnnrun: -o /dev/null: it is still a device"
row 'cnnrun: -o in a missing folder' 1 "$D/nodir/c.ckpt.gz: cannot write checkpoint: No such file or directory" \
	cnnrun -j 1 -q -o "$D/nodir/c.ckpt.gz" "$D/train.yaml"
row 'cnnrun: --metrics in a missing folder' 1 "$D/nodir/m.jsonl: cannot open metrics file: No such file or directory" \
	cnnrun -j 1 -q --metrics "$D/nodir/m.jsonl" -o "$O/c.ckpt.gz" "$D/train.yaml"

row 'cnninspect: nothing' 2 'cnninspect: no checkpoint given (see --help)' cnninspect
row 'cnninspect: an unknown option' 2 "cnninspect: unknown or misused option '--frobnicate' (see --help)" \
	cnninspect --frobnicate "$K/good.cnn"
row 'cnninspect: --tensor without its value' 2 "cnninspect: option '--tensor' needs an argument (see --help)" \
	cnninspect --tensor
row 'cnninspect: --tensor of no tensor' 2 "cnninspect: no tensor \"nope\" in $K/good.cnn (tensors: dense1.weight, dense1.bias)" \
	cnninspect --tensor nope "$K/good.cnn"
row 'cnninspect: two files' 2 'cnninspect: expected one checkpoint file (see --help)' \
	cnninspect "$K/good.cnn" "$K/good.cnn"

done_testing
