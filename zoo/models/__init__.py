"""The defended models: diffusion maths, guidance terms, the purifier module, the networks, and the
factory that builds an Entry into a module (as timm's ``create_model``).

``diffusion/``  schedules and reverse steps (no network inside)
``guidance``    the plain and robust guidance terms and the distances D
``purifier``    the nn.Module: validate -> diffuse -> guided reverse chain -> classifier; grad modes
``nets/``       architectures and weight loading
``factory``     Entry -> DefendedClassifier; ``speed``: GPU levers; ``timm``: RobustBench's loader
``predict``     a model's labels for a data set, batch by batch (evaluation's and training's)

May import: ``zoo.common``, ``zoo.registry``.
"""
