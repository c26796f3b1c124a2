from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Role
from annotation.services import membership_set

from ._base import project_by_name_or_id


class Command(BaseCommand):
    help = "Give a user a role in a project (annotator, lead or admin); --create makes the user too."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.ANNOTATOR)
        parser.add_argument(
            "--create", action="store_true", help="create the user if missing (password from --password)"
        )
        parser.add_argument("--password", help="password for a user created with --create")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        users = get_user_model().objects
        if not users.filter(username=options["username"]).exists():
            if not options["create"]:
                raise CommandError(f"no user {options['username']!r}; pass --create --password ... to make one")
            if not options["password"]:
                raise CommandError("--create needs --password")
            users.create_user(username=options["username"], password=options["password"])
        membership = membership_set(project=project, username=options["username"], role=options["role"])
        self.stdout.write(self.style.SUCCESS(f"{membership.user.username} is {membership.role} in {project.name}"))
