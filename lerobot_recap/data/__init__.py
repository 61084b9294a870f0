"""The RECAP data contract: the five columns, their math, the dataset metadata and copy-on-write dataset I/O, and the
transforms built on them (stage 1 ``annotate``, stage 5 ``label`` with its ``label_plots``, the ``pistar`` export)."""
