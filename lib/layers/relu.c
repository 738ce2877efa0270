/* layers/relu.c - not written yet */
#include "internal.h"
