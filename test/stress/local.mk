# test/stress: filled in by its own change
