"""Settings of the HTTP host (prefix ``ONEMAP_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from gis.settings import CoreSettings


class Settings(CoreSettings):
    """Host settings: the core's data location plus where to listen."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    #: Build the missing or stale offline packs in the background at start-up
    #: (``onemap serve`` turns it on; docs/tiles.md).
    packs_on_start: bool = False
    #: ``serve --workers N``: seconds a worker may take to answer the supervisor's ping
    #: before it is killed and restarted. uvicorn's 5 s killed busy workers on a loaded
    #: 2-core machine (the GIL held by start-up warm-ups or renders), which then lost
    #: their requests and warmed up again (issue 16 load test).
    worker_healthcheck_s: int = 60
    # perception (issue 11; docs/perception.md)
    sensor_rules_file: str = ""  # empty: config/sensor_rules.yaml
    mqtt_url: str = ""  # ONEMAP_MQTT_URL, e.g. mqtt://host:1883; empty: embedded Mosquitto
    mqtt_embedded: bool = True  # start a local Mosquitto when no URL is set
    offline_check_s: float = 60.0  # how often the offline rule runs (0: never)
    sse_heartbeat_s: float = 15.0
    # indicators (issue 17; docs/indicators.md)
    indicator_alerts_s: float = 60.0  # how often thresholds are evaluated (0: never)
    indicators_warm: bool = False  # read the frames at start-up (``onemap serve`` does)

    @property
    def base_url(self) -> str:
        """The public URL of the server (defaults to http://host:port)."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"
