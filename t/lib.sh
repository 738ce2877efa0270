# t/lib.sh
