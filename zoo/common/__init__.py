"""Plumbing every layer uses: devices, the robustbench/pyautoattack packaging quirks, provenance of
results, atomic files and storage errors, one-writer file locks. Imports nothing else from the zoo."""
