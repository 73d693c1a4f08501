"""Settings of the HTTP host (prefix ``ONEMAP_``)."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from gis.settings import CoreSettings

#: The start-up warm-ups a server may run in the background (``ONEMAP_WARMUPS``).
WARMUPS = ("coverage", "enterprise", "indicators", "perception", "tiles")
#: The warm-ups ``auto`` runs on a store of several districts: those whose working set
#: stays small at city scale (coverage residents 0.7 GiB measured on the whole city;
#: the tile prewarm reads tiles, not tables). The others are read on first use.
CITY_WARMUPS = ("coverage", "tiles")


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
    #: Which start-up warm-ups run in the background: ``auto`` (all of them on a store of
    #: one district, :data:`CITY_WARMUPS` on a store of several), ``all``, ``none`` or a
    #: comma list of :data:`WARMUPS`. Each holds a district-sized working set in memory;
    #: on the whole city at scale 1 the enterprise snapshot alone peaked at 15 GiB and
    #: the indicator frames at 11.8 GiB, and all of them took a 24 GiB machine to 1.4 GiB
    #: free (docs/scale.md). A skipped warm-up is read on first use instead.
    warmups: str = "auto"

    @field_validator("warmups")
    @classmethod
    def _known_warmups(cls, value: str) -> str:
        names = {w.strip() for w in value.split(",") if w.strip()}
        unknown = names - {*WARMUPS, "all", "none", "auto"}
        if unknown:
            raise ValueError(f"unknown warm-up(s) {sorted(unknown)}; choose from "
                             f"{', '.join(WARMUPS)}, auto, all or none")
        return value

    def warm(self, name: str, districts: int = 1) -> bool:
        """Whether the start-up warm-up ``name`` (one of :data:`WARMUPS`) runs on a store
        of ``districts`` districts."""
        names = {w.strip() for w in self.warmups.split(",") if w.strip()}
        if "auto" in names:
            names |= {"all"} if districts <= 1 else set(CITY_WARMUPS)
        return "all" in names or name in names

    def for_store(self, districts: int) -> Settings:
        """These settings with ``auto`` warm-ups resolved for a store of ``districts``."""
        chosen = [w for w in WARMUPS if self.warm(w, districts)]
        return self.model_copy(update={"warmups": ",".join(chosen) or "none"})

    @property
    def base_url(self) -> str:
        """The public URL of the server (defaults to http://host:port)."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"
