# t/no_tty.sh - the terminal tests where no pseudo-terminal can be had (a
# chroot without /dev/pts): script(1) is there but fails, and the points
# that need it are skipped with its reason, not failed.
. "$top_srcdir/t/lib.sh"

mkdir "$tmp/bin"
cat >"$tmp/bin/script" <<'END'
#!/bin/sh
echo "script: failed to create pseudo-terminal: No such device" >&2
exit 1
END
chmod +x "$tmp/bin/script"

for t in output inspect; do
	PATH="$tmp/bin:$PATH" CNN_TTY_ONLY=1 sh "$top_srcdir/t/$t.sh" >"$tmp/$t.tap" 2>&1
	ok $? "$t.sh passes when script(1) cannot open a terminal"
	grep -q '^not ok' "$tmp/$t.tap"
	ok $((!$?)) "$t.sh: no point fails"
	grep -c "^ok [0-9]* # SKIP script(1) cannot open a pseudo-terminal: script: failed to create pseudo-terminal: No such device$" "$tmp/$t.tap" >"$tmp/n"
	is "$(cat "$tmp/n")" "$([ $t = output ] && echo 12 || echo 1)" "$t.sh: the terminal points are skipped with the reason"
done

done_testing
