"""Test helpers shared by the tests beside each module (not installed)."""
