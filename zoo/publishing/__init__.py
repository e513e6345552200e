"""Publishing: a loaded entry written as a bundle (``bundle``), its model card from the
leaderboard's files (``card``), the upload to the Hugging Face Hub (``publish``) and the
RobustBench submission kit (``submit_kit``).

May import every layer below it: ``zoo.common``, ``zoo.registry``, ``zoo.data``, ``zoo.scoring``,
``zoo.reporting``, ``zoo.models``, ``zoo.attacks``, ``zoo.running``.
"""
