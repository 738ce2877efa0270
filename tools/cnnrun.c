#include "cnn.h"
int main(void) { return 1; }
