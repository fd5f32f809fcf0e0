"""jeg-wizard: JupyterHub + Enterprise Gateway + Spark installer."""

__version__ = "0.1.0"
