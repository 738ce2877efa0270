/* layers/softmax.c - not written yet */
#include "internal.h"
