#include "segmap.h"

uint8_t hak_segmap[HAK_SEGMAP_N];
