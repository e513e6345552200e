"""The registry: what entries exist and where their weights come from. Pure data and I/O, no models.

``schema``   frozen, validated dataclasses (Entry, Component, Purification, Budget, BundleRef)
``store``    the shipped ``zoo/checkpoints.yaml``, read through importlib.resources
``resolve``  the one name -> Entry resolver (registry names, bundles, overrides)
``sources``  hf:// robustbench:// zoo:// file:// -> local files, caches, checksums, offline errors
``bundles``  the bundle format (read side)

May import: ``zoo.common``.
"""
from .resolve import as_entry, get_entry, with_overrides
from .schema import Budget, BundleRef, Component, Entry, Purification, RegistryError, UnknownEntryError
from .store import default_registry, load_registry

__all__ = ["as_entry", "get_entry", "with_overrides", "Budget", "BundleRef", "Component", "Entry", "Purification",
           "RegistryError", "UnknownEntryError", "default_registry", "load_registry"]
