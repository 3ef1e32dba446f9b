"""A GenRM as the reward of RLHF engines: TRL (`trl`), verl (`verl`), OpenRLHF (`openrlhf`).
Each module imports its engine lazily, so this package works without them installed."""
