/* data_csv.c - not written yet */
#include "internal.h"
