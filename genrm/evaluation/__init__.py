"""Evaluation of reward models (GenRM, scalar RM, LLM reward proxy) on RM-Bench,
JudgeBench, RewardBench, the social-alignment suite and rationale consistency.

`suites/` hold each benchmark's data reading and exact arithmetic, `models.py`
the three model kinds behind one interface, `runner.py` the resumable run,
`report.py` the summary/Markdown/plots and `rescore.py` the recomputation from
saved per-item results.
"""
