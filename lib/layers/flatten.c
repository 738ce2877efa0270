/* layers/flatten.c - not written yet */
#include "internal.h"
