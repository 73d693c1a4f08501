"""Road graphs (walk, drive), snapping, shortest paths and reach (docs/network.md)."""

from gis.network.errors import NetworkError, SnapError, Unreachable
from gis.network.graph import MODES, Mode, NetworkSettings, Path, RoadNetwork, Snap, build_networks
from gis.network.service import NetworkService, network_service

__all__ = [
    "MODES", "Mode", "NetworkError", "NetworkService", "NetworkSettings", "Path", "RoadNetwork",
    "Snap", "SnapError", "Unreachable", "build_networks", "network_service",
]
