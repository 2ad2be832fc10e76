"""A per-agent Mesa reference implementation of the engine's monthly rules (the test oracle).

``ReferenceModel`` holds one ``Citizen`` agent per citizen and runs the same
month as ``sim.model.SCSEngine`` (scores → policy → perceptions → approval →
collect) one citizen at a time in plain Python, from the same set-up and the
same random numbers. It is written to be read, not to be fast: the engine is
tested against it (``tests/test_reference.py``).
"""

from sim.reference.agents import Citizen
from sim.reference.model import ReferenceModel

__all__ = ["Citizen", "ReferenceModel"]
