"""REST API of the data under evaluation, under /api/ (config/api_urls.py includes
`urls`). By topic: a project's data (`projects`), runs with their results, metrics and
comparisons (`runs`), file uploads (`imports`) and streamed exports (`exports`); the
building blocks every app's API shares are in `base` and `pagination`, the serializers
in `serializers/`.

This module imports nothing: DRF loads `pagination` from the settings while
rest_framework.generics is still loading, and importing a package runs its __init__."""
