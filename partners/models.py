"""Partner ECSs and what they may ask us (filled in by the federation work)."""
