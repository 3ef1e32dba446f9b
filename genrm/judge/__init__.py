"""The judge: its prompts, the verdict format (written and read here only) and the one
function that judges pairs in given orders."""
