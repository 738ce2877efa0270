/* layers/conv2d.c - not written yet */
#include "internal.h"
