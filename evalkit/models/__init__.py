"""Architectures evalkit defines itself (CompressAI's come from CompressAI)."""
