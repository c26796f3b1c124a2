"""The offline judge: a deterministic, no-network stand-in for the LLM.

Same role as the LLM backend — guideline, image description, judgment. The guideline is
read off the query by rules over a small English/German fashion lexicon; the judgment
weighs those rules with the semantic similarity of query and product (WordLlama
embeddings shipped inside the wordllama wheel) and states a calibrated confidence
(docs/offline-judge.md). The embedded demo, the tests and the fake OpenAI server use it;
in the UI its labels are a baseline, rated as OFFLINE_MODEL.
No Django here: the fake server imports it without settings.

Modules: guideline (query → requirements), checks (one requirement against one
product), semantic (embeddings), calibration (fitted constants), judge (the verdict),
product / text / lexicon (shared reading of text), describe (images), vocabulary.
"""

from .describe import offline_describe
from .guideline import offline_guideline
from .judge import offline_judge
from .rules import offline_applied_rules
from .vocabulary import vocabulary_from_products

# The name is part of every cache key: a new version of the judge's logic gets a new name,
# so labels of an older version are never served as this one's.
OFFLINE_MODEL = "offline-baseline-v2"

__all__ = [
    "OFFLINE_MODEL",
    "offline_applied_rules",
    "offline_describe",
    "offline_guideline",
    "offline_judge",
    "vocabulary_from_products",
]
