"""Recipes: window settings, feature blocks and a learner, versioned by the hash of their spec."""
