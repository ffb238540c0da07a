/* Defaults of every tunable (ranges in params.h and doc/ctl-names.md). */
#include "params.h"

hak_params_t hak_params = {
    .refill_count = 32,
    .tcache_capacity = 256,
    .prefill_budget = 0,
    .warm_capacity = 4,
    .purge_delay_ms = 1000,
    .purge_decay_ms = 3000,
    .purge_sparse = 1,
    .background_thread = 1,
    .prefault = 0,
    .thp = HAK_THP_LARGE,
    .large_cache_max = 512 * HAK_MiB,
    .mapped_limit = 0,
    .debug_checks = HAK_DEBUG,
    .epoch = 1,
};
