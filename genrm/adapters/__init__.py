"""Old import paths of the RLHF adapters, kept because users' configs name them
(`pkg://genrm.adapters.verl`, the file `genrm/adapters/openrlhf.py`,
`genrm.adapters.trl.GenRMReward`). The adapters live in `genrm.rlhf`."""
