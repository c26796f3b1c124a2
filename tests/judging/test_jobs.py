import pytest

from annotation.models import Label, Pair
from judging.jobs import judge_job_create
from judging.models import Judgment, JudgeJob

from .conftest import grid

pytestmark = pytest.mark.django_db


def test_smoke(llm_project, catalogue, drive, fake_llm):
    project = llm_project("caption")
    run = catalogue(project).run("A", grid("q1 q2", "p1 p2 p3"))
    job = judge_job_create(project=project, run=run)
    result = drive(job)
    print(result.job.__dict__)
    print(fake_llm.calls_by_task)
    print(list(Judgment.objects.values_list("pair_id", "value", "confidence", "status", "tokens_in", "tokens_out")))
    assert result.job.status == "done"
