from annotation.importers import products_import

from ._base import ImportCommand


class Command(ImportCommand):
    help = """Import or update a project's products from CSV (header row) or JSONL.

Columns: product_id, title (required); brand, category, description, attributes (a JSON
object, e.g. {"colour": "red", "material": "leather"}), image (an http(s) URL or a path
relative to the file; several images separated by '|', or a JSON list in JSONL).
Aliases: id/sku/asin for product_id, product_title/name for title.
Local images are validated and re-encoded (JPEG); http(s) images are recorded for later
fetching. Re-importing the same file changes nothing; a changed row updates the product.
Any bad row stops the whole import with the file, line and column named."""

    def run_import(self, project, options):
        return products_import(project=project, path=options["file"], fmt=options["format"])
