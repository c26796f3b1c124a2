"""Rules in judging, against the fake server: rules in scope reach the prompts with
their ids, the judge's cited ids are validated (and filtered over k samples), and a rule
change re-judges exactly the pairs in its scope."""

from collections import Counter

from annotation.rulebook import RuleSpec, rule_retire, rule_save
from judging import prompts
from judging.jobs import judge_job_create
from judging.models import Judgment

from .conftest import grid


def judgment_inputs(server) -> dict[tuple[str, str], dict]:
    found = {}
    for request in server.requests:
        body = request["body"]
        data = prompts.extract_input(body["messages"])
        if data and data.get("task") == "judgment":
            found[(data["query"], data["product"]["title"])] = {"input": data, "body": body}
    return found


def rules_of(project, query: str, product: str) -> list[str]:
    judgment = Judgment.objects.filter(pair__query__external_id=query, pair__product__external_id=product).latest(
        "created_at"
    )
    return judgment.applied_rules


def setup_rules(project):
    rule_save(project, RuleSpec("colour", "A product in another colour than the query asks for is irrelevant."))
    rule_save(project, RuleSpec("boots", "Ankle boots are not knee-high boots.", category="boots"))


def test_rules_in_scope_reach_the_prompts_and_the_schema_with_their_ids(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    setup_rules(project)
    run = catalogue(project).run("A", grid("q2", "p1 p2"))

    drive(judge_job_create(project=project, run=run))

    guideline = next(r["body"] for r in fake_llm.requests if r["task"] == "guideline")
    assert prompts.extract_input(guideline["messages"])["rules"] == [
        {"id": "colour", "text": "A product in another colour than the query asks for is irrelevant."}
    ]  # the guideline step sees the universal rules only
    sent = judgment_inputs(fake_llm)
    dress = sent[("black boots", "Red Silk Evening Dress")]
    boots = sent[("black boots", "Black Leather Ankle Boots")]
    assert [r["id"] for r in dress["input"]["rules"]] == ["colour"]
    assert [r["id"] for r in boots["input"]["rules"]] == ["boots", "colour"]
    schema = boots["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["applied_rules"]["items"]["enum"] == ["boots", "colour"]
    assert "applied_rules" in schema["required"]
    assert "applied_rules" in boots["body"]["messages"][0]["content"]
    # The offline judge behind the fake cites the colour rule where the colour is wrong.
    assert rules_of(project, "q2", "p1") == ["colour"]


def test_without_rules_the_prompt_and_schema_are_unchanged(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q2", "p2"))))

    body = next(iter(judgment_inputs(fake_llm).values()))["body"]
    assert "applied_rules" not in body["response_format"]["json_schema"]["schema"]["properties"]
    assert "rules" not in prompts.extract_input(body["messages"])
    assert Judgment.objects.get(project=project).applied_rules == []


def test_cited_ids_not_in_scope_are_dropped_with_a_note(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    setup_rules(project)
    fake_llm.cite_rules = [["colour", "boots", "made-up"]]

    drive(judge_job_create(project=project, run=catalogue(project).run("A", grid("q2", "p1"))))

    judgment = Judgment.objects.get(project=project)
    assert judgment.status == Judgment.Status.OK
    assert judgment.applied_rules == ["colour"]  # "boots" is out of scope for a dress
    assert "boots" in judgment.rule_note and "made-up" in judgment.rule_note


def test_with_k_samples_a_rule_is_kept_only_when_two_samples_name_it(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text", samples=3)
    setup_rules(project)
    fake_llm.cite_rules = [["colour", "boots"], ["colour"], ["boots", "boots"]]

    run = catalogue(project).run("A", grid("q2", "p2"))
    drive(judge_job_create(project=project, run=run))

    # colour: samples 1 and 2; boots: samples 1 and 3 (a sample naming it twice counts once).
    assert Judgment.objects.get(project=project).applied_rules == ["boots", "colour"]
    fake_llm.cite_rules = [["colour", "boots"], ["colour"], []]
    rule_save(project, RuleSpec("boots", "Ankle boots are not knee-high boots!", category="boots"))
    drive(judge_job_create(project=project, run=run))
    assert rules_of(project, "q2", "p2") == ["colour"]


def test_a_rule_change_rejudges_exactly_the_pairs_in_its_scope(llm_project, catalogue, drive, fake_llm):
    project = llm_project("text")
    setup_rules(project)
    run = catalogue(project).run("A", grid("q2 q6", "p1 p2 p6"))
    drive(judge_job_create(project=project, run=run))
    assert fake_llm.calls_by_task == Counter({"guideline": 2, "judgment": 6})

    # Edit the rule scoped to boots: the boot pairs (p2, p6) only, no guideline.
    fake_llm.reset()
    rule_save(project, RuleSpec("boots", "Ankle boots and knee-high boots are different products.", category="boots"))
    job = drive(judge_job_create(project=project, run=run)).job
    assert (job.total, job.done, job.cached) == (4, 4, 0)
    assert fake_llm.calls_by_task == Counter({"judgment": 4})
    assert {title for _, title in judgment_inputs(fake_llm)} == {"Black Leather Ankle Boots", "Red Leather Boots"}

    # Nothing changed: every pair is judged, even when asked again for all of them.
    fake_llm.reset()
    job = drive(judge_job_create(project=project, run=run, holes_only=False)).job
    assert (job.total, job.cached) == (6, 6)
    assert fake_llm.calls_by_task == Counter()

    # Retiring the universal rule changes every guideline, so every pair.
    fake_llm.reset()
    rule_retire(project.rules.get(rule_id="colour"))
    drive(judge_job_create(project=project, run=run))
    assert fake_llm.calls_by_task == Counter({"guideline": 2, "judgment": 6})
