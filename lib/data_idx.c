/* data_idx.c - not written yet */
#include "internal.h"
