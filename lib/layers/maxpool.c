/* layers/maxpool.c - not written yet */
#include "internal.h"
