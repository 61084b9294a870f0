"""The RECAP data contract: the five columns, their math, the dataset metadata and copy-on-write dataset I/O."""
