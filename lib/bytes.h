/* bytes.h - not written yet */
