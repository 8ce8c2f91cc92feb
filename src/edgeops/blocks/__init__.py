"""Blocks: versioned, parameterised steps (feature blocks, learners) and their one registry."""
