"""Hard-case mining as a feature (RAIR): a subset of the pairs whose k judge samples
disagree, exported as a benchmark file (JSONL: query, product, images, rules, gold) that
qrelay imports again, into this project or another.

A pair is hard when the share of its latest valid judgment's samples that agree with the
majority is below the lead's threshold (RAIR: k = 8, majority under half). Pairs judged
with one sample have nothing to disagree on and are never hard.

The file has one pair per line:
    {"query_id", "query", "locale", "tags", "product_id", "title", "brand", "category",
     "description", "attributes", "images": [...], "rules": [{"id", "text", "category",
     "query_tag"}], "gold": <label name or null>, "samples": [<label names>],
     "majority_share", "subset"}
`images` are http(s) URLs, or file names under the export directory (images/<sha>.jpg).
"""

import json
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotation.importers import labels_import, products_import, queries_import
from annotation.models import Pair, Product, ProductImage, Project, Query, Rule
from annotation.rulebook import RuleError, RuleSpec, rules_import, validate_spec
from judging.models import Judgment

from .models import PairSubset

FILE_NAME = "benchmark.jsonl"
BENCHMARK_RATER = "benchmark"


class BenchmarkError(ValueError):
    pass


def latest_judgments(project: Project, pair_ids=None) -> dict[int, Judgment]:
    rows = Judgment.objects.filter(project=project, status=Judgment.Status.OK)
    if pair_ids is not None:
        rows = rows.filter(pair_id__in=list(pair_ids))
    found: dict[int, Judgment] = {}
    for judgment in rows.order_by("pair_id", "-created_at", "-id").only("pair_id", "samples", "applied_rules"):
        found.setdefault(judgment.pair_id, judgment)
    return found


def majority_share(samples: list[int]) -> float | None:
    if len(samples) < 2:
        return None
    return max(Counter(samples).values()) / len(samples)


def hard_pair_ids(project: Project, threshold: float = 0.5) -> list[int]:
    hard = []
    for pair_id, judgment in latest_judgments(project).items():
        share = majority_share(judgment.samples or [])
        if share is not None and share < threshold:
            hard.append(pair_id)
    return sorted(hard)


def subset_build(project: Project, *, name: str = "hard", threshold: float = 0.5) -> PairSubset:
    """Build (or rebuild) the named hard subset from the judgments as they are now."""
    if not 0 < threshold <= 1:
        raise BenchmarkError("the threshold is a majority share in (0, 1]")
    subset, _ = PairSubset.objects.update_or_create(
        project=project,
        name=name,
        defaults={"threshold": threshold, "pair_ids": hard_pair_ids(project, threshold)},
    )
    return subset


# --- export ---------------------------------------------------------------------------


def benchmark_rows(subset: PairSubset, *, image_name=None):
    """The subset's pairs as benchmark records. image_name(image) names a stored image
    in the file (default: its stored name)."""
    project = subset.project
    names = dict(project.levels.values_list("value", "name"))
    rules = {rule.rule_id: rule for rule in Rule.objects.filter(project=project)}
    judgments = latest_judgments(project, subset.pair_ids)
    pairs = (
        Pair.objects.filter(id__in=subset.pair_ids)
        .select_related("query", "product")
        .prefetch_related("product__images")
    )
    for pair in pairs.order_by("query__external_id", "product__external_id"):
        query, product = pair.query, pair.product
        judgment = judgments.get(pair.id)
        samples = list(judgment.samples or []) if judgment else []
        images = [
            image.source if image.status == ProductImage.Status.REMOTE else (image_name or _stored_name)(image)
            for image in product.images.all()
        ]
        cited = [rules[i] for i in (judgment.applied_rules if judgment else []) if i in rules]
        yield {
            "query_id": query.external_id,
            "query": query.text,
            "locale": query.locale,
            "tags": list(query.tags or []),
            "product_id": product.external_id,
            "title": product.title,
            "brand": product.brand,
            "category": product.category,
            "description": product.description,
            "attributes": product.attributes or {},
            "images": images,
            "rules": [
                {"id": r.rule_id, "text": r.text, "category": r.category, "query_tag": r.query_tag} for r in cited
            ],
            "gold": names.get(pair.gold_value) if pair.gold_value is not None else None,
            "samples": [names.get(v, str(v)) for v in samples],
            "majority_share": majority_share(samples),
            "subset": subset.name,
        }


def _stored_name(image: ProductImage) -> str:
    return f"images/{image.sha256}.jpg"


def benchmark_export(subset: PairSubset, directory: Path) -> Path:
    """Write DIR/benchmark.jsonl and the subset's stored images under DIR/images/."""
    directory = Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    media = Path(settings.MEDIA_ROOT)

    def copy(image: ProductImage) -> str:
        name = _stored_name(image)
        target = directory / name
        if not target.exists():
            shutil.copyfile(media / image.stored_name, target)
        return name

    path = directory / FILE_NAME
    with path.open("w", encoding="utf-8") as out:
        for row in benchmark_rows(subset, image_name=copy):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def benchmark_zip(subset: PairSubset, out) -> None:
    """The same export as one .zip archive (benchmark.jsonl and images/) written to the
    binary file `out`: what the rules page's download sends. Unzipped, it imports again."""
    media = Path(settings.MEDIA_ROOT)
    written: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(image: ProductImage) -> str:
            name = _stored_name(image)
            if name not in written:
                # Stored as is: JPEGs do not compress further.
                archive.write(media / image.stored_name, name, compress_type=zipfile.ZIP_STORED)
                written.add(name)
            return name

        # The rows first: a zip takes no other entry while one is open for writing.
        rows = list(benchmark_rows(subset, image_name=add))
        with archive.open(FILE_NAME, "w") as jsonl:
            for row in rows:
                jsonl.write((json.dumps(row, ensure_ascii=False) + "\n").encode())


# --- import ---------------------------------------------------------------------------


def _read(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{path.name}, line {number}: not JSON: {exc}") from None
            missing = [key for key in ("query_id", "query", "product_id", "title") if not row.get(key)]
            if not isinstance(row, dict) or missing:
                raise BenchmarkError(f"{path.name}, line {number}: missing {', '.join(missing) or 'an object'}")
            rows.append(row)
    return rows


def _write_jsonl(directory: Path, rows: list[dict]) -> Path:
    handle, name = tempfile.mkstemp(dir=directory, prefix=".qrelay-benchmark-", suffix=".jsonl")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(name)


def benchmark_import(project: Project, path: Path, *, subset_name: str | None = None) -> dict:
    """Import a benchmark file: queries (with their tags), products (with images), the
    pairs, gold (rater "benchmark"), the rules its pairs cite, and the subset. Through the
    ordinary importers, so their checks apply; all or nothing."""
    path = Path(path)
    rows = _read(path)
    try:
        specs = {}
        for row in rows:
            for rule in row.get("rules") or []:
                spec = validate_spec(RuleSpec(str(rule.get("id", "")), str(rule.get("text", "")).strip(),
                                              str(rule.get("category") or ""), str(rule.get("query_tag") or "")))  # fmt: skip
                specs[spec.rule_id] = spec
    except RuleError as exc:
        raise BenchmarkError(f"{path.name}: {exc}") from None
    products = {r["product_id"]: r for r in rows}
    queries = {r["query_id"]: r for r in rows}
    written: list[Path] = []
    try:
        query_file = _write_jsonl(path.parent, [{"query_id": q, "query": r["query"], "locale": r.get("locale") or ""}
                                                for q, r in queries.items()])  # fmt: skip
        written.append(query_file)
        product_file = _write_jsonl(path.parent, [
            {"product_id": p, "title": r["title"], "brand": r.get("brand") or "", "category": r.get("category") or "",
             "description": r.get("description") or "", "attributes": r.get("attributes") or {},
             "image": list(r.get("images") or [])}
            for p, r in products.items()
        ])  # fmt: skip
        written.append(product_file)
        gold_rows = [
            {"query_id": r["query_id"], "product_id": r["product_id"], "label": r["gold"]}
            for r in rows
            if r.get("gold") is not None
        ]
        label_file = _write_jsonl(path.parent, gold_rows) if gold_rows else None
        if label_file:
            written.append(label_file)
        with transaction.atomic():
            queries_import(project=project, path=query_file, fmt="jsonl")
            products_import(project=project, path=product_file, fmt="jsonl")
            if label_file:
                labels_import(project=project, path=label_file, rater=BENCHMARK_RATER, gold=True, fmt="jsonl")
            pair_ids = _pairs(project, rows)
            rules_import(project, list(specs.values()))
            name = subset_name or next((r.get("subset") for r in rows if r.get("subset")), None) or "benchmark"
            PairSubset.objects.update_or_create(
                project=project, name=name, defaults={"threshold": None, "pair_ids": sorted(pair_ids)}
            )
    finally:
        for temporary in written:
            temporary.unlink(missing_ok=True)
    return {"pairs": len(pair_ids), "gold": len(gold_rows), "rules": len(specs), "subset": name}


def _pairs(project: Project, rows: list[dict]) -> set[int]:
    query_ids = dict(Query.objects.filter(project=project).values_list("external_id", "id"))
    product_ids = dict(Product.objects.filter(project=project).values_list("external_id", "id"))
    pair_ids = set()
    for row in rows:
        query_id = query_ids[row["query_id"]]
        pair, _ = Pair.objects.get_or_create(
            project=project, query_id=query_id, product_id=product_ids[row["product_id"]]
        )
        pair_ids.add(pair.id)
        tags = [str(t) for t in row.get("tags") or []]
        if tags:
            query = Query.objects.get(id=query_id)
            merged = sorted(set(query.tags or []) | set(tags))
            if merged != sorted(query.tags or []):
                Query.objects.filter(id=query_id).update(tags=merged)
    return pair_ids
