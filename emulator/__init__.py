"""bedrock-chaos: a local, faithful AWS Bedrock Runtime emulator.

    from emulator import mock_bedrock, EmulatorServer
"""

from emulator.config import EmulatorConfig
from emulator.core import Emulator
from emulator.engine.clock import VirtualClock, WallClock
from emulator.engine.faults import Fault
from emulator.transports.inprocess import BedrockMock, mock_bedrock
from emulator.transports.server import EmulatorServer

__all__ = [
    "BedrockMock",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Fault",
    "VirtualClock",
    "WallClock",
    "mock_bedrock",
]
