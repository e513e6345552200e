"""Plumbing every layer uses: devices, the robustbench/pyautoattack packaging quirks, provenance of
results, atomic files. Imports nothing else from the zoo."""
