"""DRF serializers of annotation data, by topic: read shapes and filters of a project's
data (`projects`), runs with their metrics and comparisons (`runs`), file exports and
uploads (`files`). Validation only; writes go through annotation.services and importers."""
