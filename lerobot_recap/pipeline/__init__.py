"""lerobot-recap-pipeline's library: the stage runner (``runner``), what it compares (``plan``) and its report."""
