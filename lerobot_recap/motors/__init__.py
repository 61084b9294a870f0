"""Motor drivers that LeRobot does not ship, laid out like ``lerobot.motors``: one package per motor family.

``yam/``: the I2RT YAM arm (Damiao motors on CAN, the teaching handle, the ZMQ arm server). Nothing heavy loads
here: python-can, pyzmq and msgpack are imported only when an arm is built or served.
"""
