"""Data prep: the preference record, row readers, sources, rationale units, sides and the build."""
