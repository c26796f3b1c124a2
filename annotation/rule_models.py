"""The project's rulebook as rows a lead edits (RAIR: relevance judged against expert
rules). Imported at the end of models.py so Django finds the model."""

from django.db import models
from django.db.models import Q


class Rule(models.Model):
    """One rule of a project's rulebook.

    `rule_id` is the stable name the judge cites ("R1", "second-hand"); `version` goes up
    whenever the text or scope changes, and the versions of the rules in scope are part of
    the judging cache keys, so a change re-judges exactly the pairs it reaches. A rule is
    retired, never deleted: old judgments still cite it."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="rules")
    rule_id = models.CharField(max_length=40)
    text = models.TextField()
    # Scope: empty = every pair. `category` matches a product category (or one segment of
    # a "Shoes > Sneakers" path, any case); `query_tag` a tag of the query.
    category = models.CharField(max_length=200, blank=True)
    query_tag = models.CharField(max_length=60, blank=True)
    version = models.PositiveIntegerField(default=1)
    retired = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "rule_id"], name="rule_unique_rule_id"),
            models.CheckConstraint(condition=~Q(rule_id=""), name="rule_id_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.version}"
