/* The statistics printer's dumps at exit, to a file, and at intervals
 * (stats.print_at_exit, stats.print_opts, stats.print_path,
 * stats.interval_ms).  hak_stats_print() itself is public (hakmem.h). */
#ifndef HAK_STATS_PRINT_H
#define HAK_STATS_PRINT_H

#include "util.h"

/* From the library constructor, after HAKMEM_CONF: registers the at-exit
 * dump and the fork handlers of the printer's lock. */
void hak_stats_print_init(void);
/* stats.interval_ms, 0 when periodic dumps are off. */
uint64_t hak_stats_interval_ms(void);
/* From the background thread after each pass: dumps if stats.interval_ms
 * has passed since the last periodic dump. */
void hak_stats_periodic_tick(uint64_t now_ms);
/* One dump as the stats.print_* nodes say (file or stderr). */
void hak_stats_dump(void);

#endif
