from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.rulebook import PRESETS, RuleError, preset_specs, read_rules_file, rules_import
from annotation.scales import BUILTIN_SCALES, ScaleError
from annotation.services import project_create


class Command(BaseCommand):
    help = """Create a project (a catalogue or market under evaluation) with its label scale.

Built-in scales (--scale): default = irrelevant 0 / acceptable substitute 1 / highly
relevant 2; esci = Irrelevant 0 / Complement 1 / Substitute 2 / Exact 3; rair = L1..L4;
binary = irrelevant 0 / relevant 1. Or a custom scale, least relevant first:
--labels "Bad:0,Fair:1,Good:2,Excellent:3,Perfect:4" (gain = value, or NAME:VALUE:GAIN)."""

    def add_arguments(self, parser):
        parser.add_argument("name")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--scale", choices=sorted(BUILTIN_SCALES), default="default")
        group.add_argument("--labels", help='custom scale, e.g. "Bad:0,Fair:1,Good:2"')
        parser.add_argument("--description", default="")
        parser.add_argument("--locales", default="", help="comma-separated, e.g. de-DE,en-GB")
        parser.add_argument(
            "--rules", help="a rules file (YAML or JSON, see docs/examples/rules.yaml) or a preset: rair"
        )

    def handle(self, *args, **options):
        locales = [loc.strip() for loc in options["locales"].split(",") if loc.strip()]
        try:
            with transaction.atomic():  # a bad rules file leaves no project behind
                project = project_create(
                    name=options["name"],
                    scale=options["scale"],
                    labels=options["labels"],
                    description=options["description"],
                    locales=locales,
                )
                rules = options["rules"]
                if rules:
                    specs = preset_specs(project, rules) if rules in PRESETS else read_rules_file(rules)
                    rules_import(project, specs)
        except (ScaleError, RuleError) as exc:
            raise CommandError(str(exc)) from None
        if options["rules"]:
            self.stdout.write(f"{project.rules.count()} rules from {options['rules']}")
        levels = ", ".join(f"{level.name}={level.value} (gain {level.gain:g})" for level in project.levels.all())
        self.stdout.write(
            self.style.SUCCESS(
                f"created project {project.name!r} (id {project.id}) with scale {project.scale_name}: {levels}"
            )
        )
