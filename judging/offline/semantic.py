"""How alike a query and a product read: cosine similarity of WordLlama text embeddings.

WordLlama (MIT licence) ships its model inside the PyPI wheel: a 32,000 × 256 matrix of
token embeddings (`weights/l2_supercat_256.safetensors`, 16 MB) and the Llama-2
tokenizer that goes with it (`tokenizers/l2_supercat_tokenizer_config.json`). A text's
embedding is the mean of its tokens' vectors, as in WordLlama's own `embed()`; two texts
are as similar as the cosine of their embeddings.

The two files are read straight from the installed package. `WordLlama.load()` is not
used: it looks for the tokenizer under `tokenizer/` while the wheel ships `tokenizers/`,
and on a miss it downloads from the Hugging Face hub; here nothing can reach the network.
The `wordllama` package is not even imported: its `__init__` calls
`logging.basicConfig()`, which would configure the logging of whatever process loads us.

The model is loaded once per process, on first use (about 0.1 s), under a lock: the fake
LLM server and threaded workers judge from several threads.
"""

import functools
import html
import importlib.util
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from judging.contracts import GuidelineDraft, ProductContext

if TYPE_CHECKING:
    from tokenizers import Tokenizer

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
# What of a product is embedded: its title (and brand and category) and the start of its
# description. Titles carry most of the signal on real catalogues (ESCI); a long
# description would drown them in marketing words, so only its first words count.
DESCRIPTION_WORDS = 16
DESCRIPTION_CHARS = 2000
MAX_WORDS = 96
# Requirements that are numbers with a meaning only the rules know ("38", "under 50").
_UNEMBEDDED = frozenset({"size", "price"})
_TAG = re.compile(r"<[^>]+>")


class ModelMissing(RuntimeError):
    """The wordllama package (or a file of its model) is not installed."""


@dataclass(frozen=True)
class _Model:
    vectors: np.ndarray  # (vocabulary, 256) float32
    tokenizer: "Tokenizer"
    whole_words: dict[str, int]  # word -> id of the token "▁word"


_model: _Model | None = None
_lock = threading.Lock()


def model_files() -> tuple[Path, Path]:
    """Paths of the weights and the tokenizer inside the installed wordllama package."""
    spec = importlib.util.find_spec("wordllama")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the offline judge needs the wordllama package (see requirements.txt)")
    root = Path(next(iter(spec.submodule_search_locations)))
    files = root / WEIGHTS, root / TOKENIZER
    for path in files:
        if not path.is_file():
            raise ModelMissing(f"wordllama is installed without its model file {path}")
    return files


def load() -> _Model:
    """The model, loaded on first call."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                from safetensors import safe_open
                from tokenizers import Tokenizer

                weights, tokenizer_file = model_files()
                with safe_open(str(weights), framework="np") as f:
                    vectors = np.ascontiguousarray(f.get_tensor("embedding.weight"), dtype=np.float32)
                tokenizer = Tokenizer.from_file(str(tokenizer_file))
                tokenizer.no_padding()
                tokenizer.no_truncation()
                whole = {t[1:]: i for t, i in tokenizer.get_vocab().items() if t.startswith(_SPACE) and len(t) > 1}
                _model = _Model(vectors, tokenizer, whole)
    return _model


def loaded() -> bool:
    return _model is not None


# Token ids per word. The Llama tokenizer has no pre-tokenizer: it marks each space with
# "▁" and merges pieces that never span two words, so a text's tokens are its words'
# tokens in turn (tests/judging/test_offline_semantic.py checks this on real titles).
# Looking words up here makes embedding a title several times faster than tokenizing it.
_ids: dict[str, tuple[int, ...]] = {}
MAX_CACHED_WORDS = 1 << 16  # a catalogue's vocabulary; about 15 MB at most
_SPACE = "▁"


def _token_ids(words: list[str]) -> list[int]:
    # Reads go through a local dict: another thread may clear the cache meanwhile.
    found: dict[str, tuple[int, ...]] = {}
    unseen = []
    for word in dict.fromkeys(words):
        ids = _ids.get(word)
        if ids is None:
            unseen.append(word)
        else:
            found[word] = ids
    if unseen:
        found.update(_learn(unseen))
    return [i for word in words for i in found[word]]


def _learn(words: list[str]) -> dict[str, tuple[int, ...]]:
    """Token ids of new words, tokenized in one call (a call per word costs twice as
    much): every word's first token, and no other, starts with "▁"."""
    model = load()
    tokenizer = model.tokenizer
    # A word that is one token of the vocabulary tokenizes to it (checked on the 3,000
    # such words of the ESCI calibration file): no need to ask the tokenizer.
    learned: dict[str, tuple[int, ...]] = {w: (i,) for w in words if (i := model.whole_words.get(w)) is not None}
    plain = [w for w in words if w not in learned and _SPACE not in w]
    if not plain:
        return _remember(learned)
    encoding = tokenizer.encode(" ".join(plain), add_special_tokens=False)
    groups: list[list[int]] = []
    for token, token_id in zip(encoding.tokens, encoding.ids):
        if token.startswith(_SPACE) or not groups:
            groups.append([])
        groups[-1].append(token_id)
    if len(groups) == len(plain):
        learned.update(zip(plain, (tuple(group) for group in groups)))
    for word in words:
        if word not in learned:
            learned[word] = tuple(tokenizer.encode(word, add_special_tokens=False).ids)
    return _remember(learned)


def _remember(learned: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    if len(_ids) + len(learned) > MAX_CACHED_WORDS:
        _ids.clear()
    _ids.update(learned)
    return learned


def embed(text: str) -> np.ndarray | None:
    """Unit-length mean of the text's token vectors; None for a text without tokens."""
    ids = _token_ids(text.split()[:MAX_WORDS])
    if not ids:
        return None
    # The sum points where the mean does, and costs less; the norm scales it to 1.
    vector = load().vectors.take(ids, axis=0).sum(axis=0)
    norm = math.sqrt(float(vector @ vector))
    return vector / norm if norm > 0 else None


@functools.lru_cache(maxsize=4096)
def _query_vector(text: str) -> np.ndarray | None:
    return embed(text)


def query_text(guideline: GuidelineDraft) -> str:
    """What the shopper wants, read back from the guideline: the values of its positive
    requirements. A negated one ("without a hood") would pull the query towards the very
    products it excludes; sizes and prices are numbers only the rules can read. Token
    order does not matter to a mean of token vectors."""
    return " ".join(r.value for r in guideline.requirements if not r.negated and r.attribute not in _UNEMBEDDED)


def product_text(product: ProductContext) -> str:
    # Enough of the description for its first words even under heavy HTML.
    description = _TAG.sub(" ", product.description[:DESCRIPTION_CHARS])
    if "&" in description:
        description = html.unescape(description)
    parts = [product.title]
    if product.brand and product.brand.lower() not in product.title.lower():
        parts.append(product.brand)
    parts.append(product.category.replace(">", " "))
    parts.extend(description.split()[:DESCRIPTION_WORDS])
    return " ".join(parts)


def similarity(guideline: GuidelineDraft, product: ProductContext) -> float | None:
    """Cosine similarity in [-1, 1] of the query's wants and the product's text; None when
    either side has no words to embed."""
    query = _query_vector(query_text(guideline))
    if query is None:
        return None
    item = embed(product_text(product))
    if item is None:
        return None
    return round(float(query @ item), 6)
