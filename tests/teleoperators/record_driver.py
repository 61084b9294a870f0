"""Run stock ``lerobot-record`` (its own ``main``) with the simulated test devices registered.

The simulated arm and leader live in the test tree, so they are registered by importing ``sim_devices`` before
LeRobot's entry point runs; nothing of lerobot-record is replaced.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sim_devices  # noqa: E402,F401  (registers recap_test_sim_arm and recap_test_sim_leader)
from lerobot.scripts.lerobot_record import main  # noqa: E402

if __name__ == "__main__":
    main()
