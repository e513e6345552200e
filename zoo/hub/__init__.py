"""Publishing: a loaded entry written as a bundle, its model card (from the leaderboard's files) and
the upload to the Hugging Face Hub.

May import every layer below it: ``zoo.common``, ``zoo.registry``, ``zoo.data``, ``zoo.models``,
``zoo.attacks``, ``zoo.evaluation``, ``zoo.leaderboard``.
"""
