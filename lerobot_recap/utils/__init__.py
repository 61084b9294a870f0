"""Small helpers shared by the plugin's devices (plain Python: cheap to import)."""
