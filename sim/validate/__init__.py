"""Validation: predict published measurements and report the error."""
