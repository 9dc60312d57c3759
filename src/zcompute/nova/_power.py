"""Power and run state: reboot, power off and on, pause, suspend, crash dump."""

from __future__ import annotations

from typing import Any

from zcompute.model import InstanceState
from zcompute.nova._base import OFF_STATES, AdapterBase

__all__ = ["PowerMethods"]


class PowerMethods(AdapterBase):
    """Nova's power operations on this service's guests."""

    def reboot(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        reboot_type: str,
        block_device_info: Any = None,
        bad_volumes_callback: Any = None,
        accel_info: Any = None,
        share_info: Any = None,
    ) -> None:
        with self._guest(instance) as uuid:
            self.zc.reboot(uuid, hard=reboot_type == "HARD")

    def power_off(self, instance: Any, timeout: int = 0, retry_interval: int = 0) -> None:
        with self._guest(instance) as uuid:
            # Nova's power-state sync stops a server whose guest is already off (it shut
            # itself down or crashed): that is success, as for Nova's own drivers
            if self.zc.get_info(uuid).state in OFF_STATES:
                return
            self.zc.power_off(uuid, timeout=timeout)

    def power_on(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        block_device_info: Any = None,
        accel_info: Any = None,
        share_info: Any = None,
    ) -> None:
        with self._guest(instance) as uuid:
            if self.zc.get_info(uuid).state is not InstanceState.RUNNING:
                self.zc.power_on(uuid)

    def resume_state_on_host_boot(
        self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None
    ) -> None:
        with self._guest(instance) as uuid:
            if self.zc.get_info(uuid).state is not InstanceState.RUNNING:
                self.zc.power_on(uuid)

    def pause(self, instance: Any) -> None:
        with self._guest(instance) as uuid:
            self.zc.pause(uuid)

    def unpause(self, instance: Any) -> None:
        with self._guest(instance) as uuid:
            self.zc.unpause(uuid)

    def suspend(self, context: Any, instance: Any) -> None:
        with self._guest(instance) as uuid:
            self.zc.suspend(uuid)

    def resume(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        block_device_info: Any = None,
        share_info: Any = None,
    ) -> None:
        with self._guest(instance) as uuid:
            self.zc.resume(uuid)

    def trigger_crash_dump(self, instance: Any) -> None:
        with self._guest(instance) as uuid:
            self.zc.trigger_crash_dump(uuid)
