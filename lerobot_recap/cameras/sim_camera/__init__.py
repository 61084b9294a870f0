from lerobot_recap.cameras.sim_camera.config_sim_camera import SimCameraConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "SimCamera":
        from lerobot_recap.cameras.sim_camera.sim_camera import SimCamera

        return SimCamera
    raise AttributeError(name)


__all__ = ["SimCameraConfig", "SimCamera"]
