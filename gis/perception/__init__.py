"""Perception: sensor readings, alert rules, alerts and their impact (no HTTP here).

- :mod:`gis.perception.db` — the readings, device keys, alerts and alert log tables on
  both store backends (it borrows the store's connections);
- :mod:`gis.perception.readings` — parsing and validating incoming readings;
- :mod:`gis.perception.rules` — per-type default rules and per-sensor overrides;
- :mod:`gis.perception.impact` — the affected area and who and what is in it;
- :mod:`gis.perception.service` — the engine tying them together;
- :mod:`gis.perception.mqtt` — the embedded Mosquitto and the paho-mqtt subscriber;
- :mod:`gis.perception.bulk` — CSV history; :mod:`gis.perception.simulate` — the storm.
"""
