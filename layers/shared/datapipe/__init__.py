"""Domain package of the retail/banking data pipeline, shipped to every function as a layer.

Plain Python: importable and testable without AWS. AWS access lives in ``datapipe.aws``.
"""

__version__ = "0.1.0"
