"""The study: the papers' central comparisons at toy scale, through the project's own
trainer and evaluator (see `genrm.study.run`)."""
