"""Cost-aware, multi-fidelity acquisition on BoTorch, and batch selection; nothing here runs anything."""
