"""A test-only policy plugin, loaded by stock lerobot-train through `--discover_packages_path=recap_probe`.

It records, for every training sample it sees, the RECAP columns it obtained through
`lerobot_recap.data.frame_labels.FrameLabels`, so a test can compare them with the dataset.
"""

from recap_probe.configuration_recap_probe import RecapProbeConfig  # noqa: F401
