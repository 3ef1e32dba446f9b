"""A GenRM in RLHF loops: pairwise-to-scalar strategies, the batching service, the HTTP
server and the TRL, verl and OpenRLHF adapters (each imports its engine lazily)."""
