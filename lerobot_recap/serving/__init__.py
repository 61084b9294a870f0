"""Serving a policy to a robot on another machine.

* ``lerobot-recap-serve`` (:mod:`.websocket_server`): openpi's websocket protocol (:mod:`.msgpack_numpy`,
  :mod:`.observation_mapping`) in front of a checkpoint (:mod:`.served_policy`), so openpi and limb clients drive a
  ``pi06_recap`` policy unchanged;
* ``recap_remote`` (:mod:`.recap_remote`): a LeRobot policy type that asks such a server, for ``lerobot-rollout``
  and ``recap_dagger`` inside ``lerobot-record`` (:mod:`.websocket_client`);
* ``lerobot-recap-async-server`` (:mod:`.async_server`): LeRobot's async-inference policy server, subclassed to
  serve ``pi06_recap`` to the stock ``lerobot.async_inference.robot_client``.

Importing this package registers ``recap_remote``'s config only: websockets, msgpack, gRPC and torch models load
when a server or client starts.
"""

from lerobot_recap.serving.recap_remote import RecapRemoteConfig

__all__ = ["RecapRemoteConfig"]
