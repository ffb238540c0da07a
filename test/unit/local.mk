# test/unit: filled in by its own change
