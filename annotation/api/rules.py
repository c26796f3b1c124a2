"""The project's rulebook over the API (annotation/rulebook.py does the work).

GET  /api/projects/<p>/rules/                    every rule, retired ones too (members)
POST /api/projects/<p>/rules/                    {id, text, category?, query_tag?}: add, or a
                                                 new version of the rule with that id (leads)
GET  /api/projects/<p>/rules/<rule_id>/
PATCH /api/projects/<p>/rules/<rule_id>/         {text?, category?, query_tag?} (leads)
POST /api/projects/<p>/rules/<rule_id>/retire/   (leads)
POST /api/projects/<p>/rules/_preset/            {"preset": "rair"} (leads)
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..access import require_lead
from ..models import Rule
from ..rulebook import PRESETS, RuleError, RuleSpec, preset_specs, rule_retire, rule_save, rules_import
from .base import ProjectScopedView


class RuleSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="rule_id", max_length=40)
    category = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    query_tag = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")

    class Meta:
        model = Rule
        fields = ["id", "text", "category", "query_tag", "version", "retired", "created_at", "updated_at"]
        read_only_fields = ["version", "retired", "created_at", "updated_at"]


class PresetSerializer(serializers.Serializer):
    preset = serializers.ChoiceField(choices=PRESETS)


class PresetCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


def _saved(project, spec: RuleSpec) -> tuple[Rule, str]:
    try:
        return rule_save(project, spec)
    except RuleError as exc:
        raise ValidationError({"detail": str(exc)}) from None


class RuleList(ProjectScopedView):
    serializer_class = RuleSerializer

    @extend_schema(operation_id="projects_rules_list", responses=RuleSerializer(many=True))
    def get(self, request, project_id: int):
        rules = Rule.objects.filter(project=self.project).order_by("retired", "rule_id")
        return Response(RuleSerializer(rules, many=True).data)

    def post(self, request, project_id: int):
        require_lead(request.user, self.project, "edit the rulebook")
        given = RuleSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        rule, outcome = _saved(
            self.project, RuleSpec(data["rule_id"], data["text"].strip(), data["category"], data["query_tag"])
        )
        code = status.HTTP_201_CREATED if outcome == "added" else status.HTTP_200_OK
        return Response(RuleSerializer(rule).data, status=code)


class RuleDetail(ProjectScopedView):
    serializer_class = RuleSerializer

    def get(self, request, project_id: int, rule_id: str):
        return Response(RuleSerializer(get_object_or_404(Rule, project=self.project, rule_id=rule_id)).data)

    def patch(self, request, project_id: int, rule_id: str):
        require_lead(request.user, self.project, "edit the rulebook")
        rule = get_object_or_404(Rule, project=self.project, rule_id=rule_id)
        data = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)  # form or JSON
        given = RuleSerializer(rule, data={**data, "id": rule.rule_id}, partial=True)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        spec = RuleSpec(
            rule.rule_id,
            str(data.get("text", rule.text)).strip(),
            data.get("category", rule.category),
            data.get("query_tag", rule.query_tag),
        )
        return Response(RuleSerializer(_saved(self.project, spec)[0]).data)


class RuleRetire(ProjectScopedView):
    serializer_class = RuleSerializer

    def post(self, request, project_id: int, rule_id: str):
        require_lead(request.user, self.project, "edit the rulebook")
        rule = get_object_or_404(Rule, project=self.project, rule_id=rule_id)
        return Response(RuleSerializer(rule_retire(rule)).data)


class RulePreset(ProjectScopedView):
    serializer_class = PresetSerializer

    @extend_schema(responses=PresetCountsSerializer)
    def post(self, request, project_id: int):
        require_lead(request.user, self.project, "edit the rulebook")
        given = PresetSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        counts = rules_import(self.project, preset_specs(self.project, given.validated_data["preset"]))
        return Response(counts)
