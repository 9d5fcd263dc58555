"""A Bumble link-layer controller with the two things the stock emulation lacks.

1. ``LE Create Connection Cancel`` really cancels: the stock controller ignores it, so a
   connection attempt to a beacon that stopped advertising would hang for ever instead
   of timing out as a real adapter does.
2. RSSI per advertiser: the stock controller reports -50 dBm for everything; here the
   receiving controller asks ``rssi_of(address)`` for the signal strength it "hears".
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from bumble import hci
from bumble.controller import Controller


class SimController(Controller):
    """A :class:`bumble.controller.Controller` for the simulated building."""

    rssi_of: Callable[[hci.Address], int | None] | None = None

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """Deliver ``packet`` to our host, with the simulated RSSI in advertising reports."""
        rssi_of = self.rssi_of
        if rssi_of is not None and isinstance(
            packet,
            hci.HCI_LE_Extended_Advertising_Report_Event | hci.HCI_LE_Advertising_Report_Event,
        ):
            reports: list[Any] = []
            for report in packet.reports:
                rssi = rssi_of(report.address)
                reports.append(report if rssi is None else dataclasses.replace(report, rssi=rssi))
            # HCI packets serialise on construction: build a new one rather than mutate.
            packet = type(packet)(reports)
        super().send_hci_packet(packet)

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Cancel the pending connection attempt and report it failed, as the spec says."""
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            failed = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            asyncio.get_running_loop().call_soon(self.send_hci_packet, failed)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)
