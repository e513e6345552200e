"""Publishing: a loaded entry written as a bundle, its model card (from the leaderboard's files) and
the upload to the Hugging Face Hub.

May import: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.leaderboard``.
"""
