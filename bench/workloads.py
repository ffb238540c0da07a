"""workloads: the table of bench programs that run-bench (and sweep, scaling)
run, with their arguments and figures."""

# name, program, default args, quick args, [(metric, unit, direction)]
# direction: "higher" (throughput) or "lower" (memory).
# NAME/cpu is derived by run-bench: the figure per CPU second of the timed
# region (all threads, user + system) instead of per wall second (the program
# reports both times), much less disturbed when other work shares the CPUs.
# For queue it counts the work of both threads, blocking and waking included.
# bench_latency's figures, also shown as a table of their own
LATENCY = ["lat_malloc_p50", "lat_malloc_p99", "lat_malloc_p999", "lat_malloc_max",
           "lat_free_p50", "lat_free_p99", "lat_free_p999", "lat_free_max",
           "lat_malloc_p999_long"]

WORKLOADS = [
    ("tiny_hot", "bench_tiny_hot", ["120000000", "1"], ["30000000", "1"],
     [("tiny_hot", "Mops/s", "higher"), ("tiny_hot/cpu", "Mops/s", "higher")]),
    ("random_mixed", "bench_random_mixed", ["80000000", "256", "42"],
     ["20000000", "256", "42"],
     [("random_mixed", "Mops/s", "higher"), ("random_mixed/cpu", "Mops/s", "higher")]),
    ("larson", "bench_larson", ["2", "8", "1000", "1024", "1", "12345", "4"],
     ["0.7", "8", "1000", "1024", "1", "12345", "4"],
     [("larson", "Mops/s", "higher")]),
    ("prodcons", "bench_prodcons", ["20000000", "1", "42"], ["5000000", "1", "42"],
     [("prodcons", "Mops/s", "higher")]),
    ("realloc_large", "bench_realloc_large", ["150", "4096", "16", "42"],
     ["40", "4096", "16", "42"],
     [("realloc_large", "kops/s", "higher"), ("realloc_large/cpu", "kops/s", "higher")]),
    ("footprint", "bench_footprint", ["200", "1.5", "42"], ["100", "1.5", "42"],
     [("footprint_peak", "MiB", "lower"),
      ("footprint_after_free", "MiB", "lower"),
      ("footprint_final", "MiB", "lower")]),
    # issue 11: a phase change (no pause before the refill; the pause only
    # delays a last reading, phase_decayed) and large-block replacement
    ("phase", "bench_phase", ["200", "5", "42"], ["60", "2", "42"],
     [("phase_final", "MiB", "lower"), ("phase_after_free", "MiB", "lower"),
      ("phase_decayed", "MiB", "lower"), ("phase_peak", "MiB", "lower")]),
    ("large_replace", "bench_large_replace", ["600", "8", "64", "42"], ["200", "8", "64", "42"],
     [("large_replace", "ops/s", "higher"), ("large_replace/cpu", "ops/s", "higher"),
      ("large_replace_peak", "MiB", "lower")]),
    # issue 14: producer/consumer through a bounded queue; tail latency
    ("queue", "bench_queue", ["10000000", "1", "8", "42"], ["3000000", "1", "8", "42"],
     [("queue", "Mops/s", "higher"), ("queue/cpu", "Mops/s", "higher")]),
    ("latency", "bench_latency", ["24", "20000", "30", "1500", "8", "42"],
     ["16", "20000", "30", "1500", "8", "42"],
     [(m, "ns", "lower") for m in LATENCY]),
]

# memory figures drawn in the chart (inverted: glibc RSS ÷ RSS)
CHART_MEMORY = ("footprint_final", "phase_final", "large_replace_peak")

# what each workload does, for the report
DESCRIPTIONS = {
    "tiny_hot": "ITER malloc+free of 16–256 B blocks (5 sizes) in a tight loop, BATCH blocks at a time; the best case. Mops/s = million pairs per second.",
    "random_mixed": "ITER WS SEED: WS slots; each step frees a random slot and allocates 16–1024 B into it (the prototype's `bench_random_mixed ITER 256 42`). Mops/s = million steps per second.",
    "larson": "SECONDS MIN MAX CHUNKS ROUNDS SEED THREADS: THREADS chains of threads replace random MIN–MAX B blocks in arrays of CHUNKS and hand the array on to a new thread every ROUNDS×CHUNKS replacements (cross-thread frees, thread churn). Mops/s = million replacements per second. The prototype's figures used `2 8 128 1024 1 12345 4`.",
    "prodcons": "COUNT PAIRS SEED: a producer thread allocates COUNT blocks of 16–512 B and passes them in batches of 64 to a consumer thread that checks and frees them. Mops/s = million blocks per second. Bimodal on 2 vCPUs (glibc's arena lock especially): read the ± column.",
    "realloc_large": "ROUNDS MAXGROW_KIB NLARGE SEED: per round, 4 interleaved realloc chains 16 B → MAXGROW_KIB (×1.5 per step, tail touched, contents checked), then NLARGE blocks of 256 KiB–32 MiB touched sparsely and freed in random order. kops/s = thousand malloc/realloc/free calls per second.",
    "phase": "LIVE_MIB PAUSE_S SEED [GROW]: build LIVE_MIB of live blocks, every byte written (by count 90 % 16–512 B, 9.9 % 1–8 KiB, 0.1 % 16 KiB–1 MiB, each log-uniform; by bytes about 17 %, 46 %, 37 %), free a random 90 %, then at once allocate back to LIVE_MIB live with sizes 1.5× larger. RSS (current, /proc/self/statm) right after the free, at the end (final), and PAUSE_S later (decayed: how much an idle program gives back); peak = VmHWM.",
    "large_replace": "REPLACE NLIVE CHAIN_MIB SEED: four interleaved realloc chains grow to CHAIN_MIB each and are freed; then NLIVE blocks stay live and REPLACE times one at random is replaced by a new 256 KiB–32 MiB block (log-uniform, one byte written per 4 KiB page). ops/s = replacements per second of that phase alone; peak = VmHWM of the run.",
    "queue": "COUNT PAIRS QUEUE SEED: a producer thread allocates COUNT blocks of 64–512 B, writes a tag into each and pushes them in batches of 256 into a bounded queue of QUEUE batches (mutex and condition variables, blocking when full or empty); the consumer checks and frees them and allocates nothing. Mops/s = million blocks per second. (prodcons: 16–512 B, batches of 64, a spinning lock-free ring.)",
    "latency": "BURSTS PER_BURST IDLE_MS LONG_IDLE_MS LONG_EVERY SEED: after a warm-up burst, BURSTS bursts of PER_BURST mallocs of 16–1024 B (each block then written in full by the program), then frees in random order; IDLE_MS of sleep before each burst, LONG_IDLE_MS before every LONG_EVERY-th. Every call is timed alone (lfence; rdtsc; lfence, calibrated to ns; the ~20 ns of the timer are included). lat_malloc_p999_long: the malloc p99.9 of the bursts after a long idle.",
    "footprint": "LIVE_MIB DELAY_S SEED: build LIVE_MIB of mixed live data (99.5 % 16–2048 B, 0.5 % 4–256 KiB), free 90 % at random, sleep DELAY_S, allocate LIVE_MIB/2 more: RSS at the peak (VmHWM), after the free+sleep, and at the end.",
}
