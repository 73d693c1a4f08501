"""OneMap test suite (a package, so that ``tests`` never resolves to the
``tests`` package that pygeoapi 0.21 installs into site-packages)."""
