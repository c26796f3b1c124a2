"""Pieces the annotation serializers share: the length cap of text parameters, short
references to a query or a product, and the check that an id names an object of the
caller's project."""

from rest_framework import serializers

TEXT_PARAM = 200  # longest search text or name accepted in a query parameter


class QueryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    text = serializers.CharField()


class ProductRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    title = serializers.CharField()


class RunScopedFilter(serializers.Serializer):
    """Parameters naming objects of the project by id; an id of another project is a 400."""

    def _project_object(self, model, pk: int | None, what: str):
        if pk is None:
            return None
        obj = model.objects.filter(project=self.context["project"], pk=pk).first()
        if obj is None:
            raise serializers.ValidationError(f"No {what} {pk} in this project.")
        return obj
