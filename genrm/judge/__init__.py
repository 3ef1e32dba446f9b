"""The judge: its prompts, the verdict format (written and read here only), `JudgeConfig`
and the one function that judges pairs (`genrm.judge.pairs`)."""
