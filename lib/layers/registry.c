/* layers/registry.c - not written yet */
#include "internal.h"
