"""Model weights: sources tried in order and verified, the BentoML model store, graphs
rewritten at import. Used by runners and scripts, never by the front."""
