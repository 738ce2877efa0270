/* layers/dense.c - not written yet */
#include "internal.h"
