"""Calibration mixins for LeRobot ``Robot`` / ``Teleoperator`` subclasses with nothing of their own to calibrate.

LeRobot's base classes declare ``is_calibrated``, ``calibrate()`` and ``configure()`` abstract, so every device
must define them. Two kinds of device in this plugin have no calibration of their own:

* :class:`NoCalibration` - devices with nothing to calibrate or configure (the foot pedal, simulated devices);
* :class:`DelegatedCalibration` - wrappers and composites whose calibration is that of one wrapped device
  (``recap_observed`` wraps a robot, ``recap_dagger`` holds an optional leader arm).

List the mixin before the LeRobot base class (``class FootPedal(NoCalibration, Teleoperator)``) so its methods
satisfy the abstract ones.
"""

from __future__ import annotations

from typing import Any


class NoCalibration:
    """Always calibrated; ``calibrate()`` and ``configure()`` do nothing."""

    @property
    def is_calibrated(self) -> bool:
        return True

    def calibrate(self) -> None:
        """Nothing to calibrate."""

    def configure(self) -> None:
        """Nothing to configure."""


class DelegatedCalibration:
    """Calibration and configuration are those of ``calibration_delegate()`` (calibrated when it is None)."""

    def calibration_delegate(self) -> Any | None:
        """The wrapped robot or teleoperator that owns the calibration, or None when there is none."""
        raise NotImplementedError(f"{type(self).__name__} must say which device it delegates calibration to")

    @property
    def is_calibrated(self) -> bool:
        delegate = self.calibration_delegate()
        return True if delegate is None else bool(delegate.is_calibrated)

    def calibrate(self) -> None:
        delegate = self.calibration_delegate()
        if delegate is not None:
            delegate.calibrate()

    def configure(self) -> None:
        delegate = self.calibration_delegate()
        if delegate is not None:
            delegate.configure()
