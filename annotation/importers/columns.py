"""Column specs per file kind: canonical names, the required ones and known aliases
(ESCI's, WANDS', TREC's and common spellings)."""

from .reading import ColumnSpec

PRODUCT_SPEC = ColumnSpec(
    required=("product_id", "title"),
    optional=("brand", "category", "description", "attributes", "image"),
    aliases={
        "id": "product_id",
        "sku": "product_id",
        "asin": "product_id",
        "product_title": "title",
        "name": "title",
        "product_brand": "brand",
        "product_description": "description",
        "product_category": "category",
        "images": "image",
        "image_url": "image",
        "image_urls": "image",
    },
)

QUERY_SPEC = ColumnSpec(
    required=("query_id", "query"),
    optional=("locale", "traffic", "image", "conditions"),
    aliases={
        "images": "image",  # reference images (MERIT), like a product's
        "image_url": "image",
        "image_urls": "image",
        "qid": "query_id",
        "text": "query",
        "query_text": "query",
        "product_locale": "locale",
        "count": "traffic",
        "frequency": "traffic",
    },
)

# Product text that run and label files may carry (ESCI's full columns among them): used
# when the file's products are created, never to change a product the project has.
PRODUCT_TEXT_COLUMNS = ("product_title", "product_brand", "product_description", "product_bullets", "product_colour")
PRODUCT_TEXT_ALIASES = {
    "title": "product_title",
    "brand": "product_brand",
    "description": "product_description",
    "product_bullet_point": "product_bullets",
    "bullet_points": "product_bullets",
    "product_color": "product_colour",
}

RUN_SPEC = ColumnSpec(
    required=("query_id", "product_id", "rank"),
    optional=("score", "query", "locale", *PRODUCT_TEXT_COLUMNS),
    aliases={
        **PRODUCT_TEXT_ALIASES,
        "qid": "query_id",
        "docno": "product_id",
        "docid": "product_id",
        "doc_id": "product_id",
        "query_text": "query",
        "product_locale": "locale",
    },
    trec_fields=("query_id", "_q0", "product_id", "rank", "score", "_tag"),
)

LABEL_SPEC = ColumnSpec(
    required=("query_id", "product_id", "label"),
    optional=("rater", "query", "locale", *PRODUCT_TEXT_COLUMNS),
    aliases={
        **PRODUCT_TEXT_ALIASES,
        "qid": "query_id",
        "docno": "product_id",
        "docid": "product_id",
        "doc_id": "product_id",
        "esci_label": "label",
        "relevance": "label",
        "rel": "label",
        "grade": "label",
        "annotator": "rater",
        "query_text": "query",
        "product_locale": "locale",
    },
    trec_fields=("query_id", "_iteration", "product_id", "label"),
)
