import json

from django.core.management.base import BaseCommand, CommandError

from annotation.comparison import compare_run_metrics, worst_queries
from annotation.label_keys import ShownLabel, label_keys
from annotation.metrics import LABEL_SOURCES, METRICS, MetricsError, RunMetrics, run_metrics
from annotation.metrics.recall import recall_by_locale

from ._base import project_by_name_or_id
from .export_run import run_by_name

TITLES = {
    "ndcg": "nDCG@{k}",
    "precision": "P@{k}",
    "irrelevant": "irrelevant@{k}",
    "recall": "Recall@{k}",
    "mrr": "MRR",
    "coverage": "coverage@{k}",
}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


class Command(BaseCommand):
    help = """Metrics of a search run: nDCG@k, P@k, irrelevant@k, Recall@k, MRR and judged
coverage@k, per query and averaged, from gold labels (or, before there is gold, the
newest --labels llm|human|any label of each pair: provisional figures, marked as such).
Each mean says over how many queries it is (undefined figures, e.g. nDCG of a query
without a relevant judged pair, are left out, not counted as 0); unjudged results count
as not relevant, and coverage says how much of the top k is judged.
--compare OTHER compares this run with OTHER as the baseline (delta = this run − OTHER):
mean difference with a paired bootstrap 95% interval, wins/ties/losses, the queries that
got worse most."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name (or id)")
        parser.add_argument("--run", required=True, help="the run's name")
        parser.add_argument("--k", type=int, default=10, help="cut-off (default 10)")
        parser.add_argument("--labels", choices=LABEL_SOURCES, default="gold", help="which labels (default gold)")
        parser.add_argument(
            "--relevant-min",
            help="lowest label (value or name) that counts as relevant; default: the lowest with a positive gain",
        )
        parser.add_argument("--compare", metavar="OTHER_RUN", help="the baseline run to compare with")
        parser.add_argument(
            "--metric", choices=METRICS, default="ndcg", help="the metric to compare and rank queries by (default ndcg)"
        )
        parser.add_argument(
            "--worst", type=int, default=10, help="how many worst / most worsened queries to list (default 10)"
        )
        parser.add_argument("--per-query", action="store_true", help="list every query (text output)")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
        parser.add_argument("--json", action="store_true", help="print JSON, per-query rows included")

    def handle(self, *args, **options):
        project = project_by_name_or_id(options["project"])
        run = run_by_name(project, options["run"])
        baseline = run_by_name(project, options["compare"]) if options["compare"] else None
        settings = dict(
            k=options["k"],
            label_source=options["labels"],
            relevant_min_value=self._cut(project, options["relevant_min"]),
        )
        try:
            metrics = run_metrics(run, **settings)
            comparison = None
            if baseline is not None:
                comparison = compare_run_metrics(
                    run_metrics(baseline, **settings), metrics, metric=options["metric"], seed=options["seed"]
                )
            worst = worst_queries(metrics, metric=options["metric"], n=options["worst"])
        except MetricsError as exc:
            raise CommandError(str(exc)) from None

        if options["json"]:
            data = metrics.to_dict()
            data["worst"] = [row.external_id for row in worst]
            data["by_locale"] = [row.to_dict() for row in recall_by_locale(metrics)]
            if comparison is not None:
                data["comparison"] = comparison.to_dict(options["worst"])
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
            return
        self._print_metrics(metrics, options, label_keys(project))
        self._print_worst(metrics, worst, options["metric"])
        self._print_recall(metrics)
        if comparison is not None:
            self._print_comparison(comparison, metrics.k, options["worst"])

    def _print_recall(self, metrics: RunMetrics) -> None:
        self.stdout.write("recall (MERIT: share of queries with a relevant result in the top k) and MRR by locale:")
        for row in recall_by_locale(metrics):
            figures = "  ".join(
                f"{name} {'—' if value is None else f'{value:.4f}'}"
                for name, value in [*((f"R@{k}", v) for k, v in row.recall.items()), ("MRR", row.mrr)]
            )
            self.stdout.write(f"  {row.locale:<8} {figures}  ({row.queries} queries)")

    def _cut(self, project, raw: str | None) -> int | None:
        if raw is None:
            return None
        levels = list(project.levels.values_list("value", "name"))
        for value, name in levels:
            if raw.strip().lower() == name.lower() or raw.strip() == str(value):
                return value
        scale = ", ".join(f"{name} ({value})" for value, name in levels)
        raise CommandError(f"--relevant-min {raw!r} is not a label of the scale: {scale}")

    def _title(self, name: str, k: int) -> str:
        return TITLES[name].format(k=k)

    def _print_metrics(self, metrics: RunMetrics, options, labels: dict[int, ShownLabel]) -> None:
        out = self.stdout
        source = (
            "gold labels"
            if metrics.label_source == "gold"
            else f"newest {metrics.label_source} labels (PROVISIONAL, not gold)"
        )
        out.write(f"run {metrics.run_name}: {len(metrics.queries)} queries, k={metrics.k}, from {source}")
        # People read levels by key and name ("2 · mid"); --json keeps the stored values.
        relevant, irrelevant = (
            str(labels.get(value, f"value {value}")) for value in (metrics.relevant_min_value, metrics.irrelevant_value)
        )
        out.write(f"relevant: {relevant} and up; irrelevant: {irrelevant}")
        out.write(f"{'metric':<16}{'mean':>8}  queries")
        for name, mean in metrics.means.items():
            out.write(f"{self._title(name, metrics.k):<16}{_fmt(mean.value):>8}  {mean.queries}")
        pooled = _fmt(metrics.coverage)
        out.write(
            f"judged: {pooled} of all top-{metrics.k} results; {metrics.holes} unjudged result(s) in the top {metrics.k}"
        )
        if metrics.unjudged_queries:
            out.write(f"{metrics.unjudged_queries} query(ies) without any judged pair: no metrics, only coverage 0")
        for note in metrics.notes:
            out.write(f"note: {note}")
        if options["per_query"]:
            out.write("")
            out.write(self._header(metrics.k))
            for row in metrics.queries:
                out.write(self._line(row))

    def _header(self, k: int) -> str:
        names = "".join(f"{self._title(name, k):>15}" for name in METRICS)
        return f"{'query_id':<16}{names}  query"

    def _line(self, row) -> str:
        figures = "".join(f"{_fmt(getattr(row.metrics, name)):>15}" for name in METRICS)
        return f"{row.external_id:<16}{figures}  {row.text}"

    def _print_worst(self, metrics: RunMetrics, worst, metric: str) -> None:
        if not worst:
            return
        self.stdout.write("")
        self.stdout.write(f"worst queries by {self._title(metric, metrics.k)} (heavier traffic first among equals):")
        self.stdout.write(self._header(metrics.k))
        for row in worst:
            self.stdout.write(self._line(row))

    def _print_comparison(self, comparison, k: int, n: int) -> None:
        out = self.stdout
        title = self._title(comparison.metric, k)
        out.write("")
        out.write(
            f"{comparison.run_b} vs {comparison.run_a} (baseline) on {title}, over {len(comparison.deltas)} paired queries:"
        )
        if comparison.mean_delta is None:
            out.write("  no query has the metric defined in both runs")
        else:
            low, high = comparison.ci
            verdict = "significant" if comparison.significant else "not significant"
            out.write(
                f"  mean {_fmt(comparison.mean_a)} -> {_fmt(comparison.mean_b)}, difference {comparison.mean_delta:+.4f}"
            )
            out.write(f"  {comparison.confidence:.0%} bootstrap interval [{low:+.4f}, {high:+.4f}] ({verdict})")
            out.write(f"  wins {comparison.wins}, ties {comparison.ties}, losses {comparison.losses}")
        skipped = []
        if comparison.only_in_a:
            skipped.append(f"{comparison.only_in_a} only in {comparison.run_a}")
        if comparison.only_in_b:
            skipped.append(f"{comparison.only_in_b} only in {comparison.run_b}")
        if comparison.undefined:
            skipped.append(f"{comparison.undefined} with {title} undefined")
        if skipped:
            out.write(f"  not paired: {', '.join(skipped)}")
        for note in comparison.notes:
            out.write(f"  note: {note}")
        worse = comparison.worsened(n)
        if worse:
            out.write("  got worse most:")
            for d in worse:
                out.write(f"    {d.external_id:<16}{d.a:.4f} -> {d.b:.4f} ({d.delta:+.4f})  {d.text}")
