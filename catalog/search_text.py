"""What text a dataset is found by, split into words the same way for the index and for a query.

Names are split on ``_ . - / :`` and case changes before indexing (``dim_customerOrders`` is
indexed as ``dim customer orders``), so ``customer`` finds ``dim_customer_orders``. A dataset's text
has five weighted parts (``PARTS``: name, title, tags, columns, descriptions); its words of a
sensible length are the vocabulary that misspelt query words are corrected against.

Writing the index is catalog.search_index; querying it is catalog.search.
"""

import re
import unicodedata
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError

_SPLIT = re.compile(r"[_.\-/:\s]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"\w+")

# The weighted parts of a dataset's searchable text, in tsvector weight order A..D.
PARTS = ("name", "title", "tags", "columns", "description")
# PostgreSQL's text search configuration for both the vectors and the queries (English stemming).
PG_CONFIG = "english"
# Words shorter or longer than these are not kept in the vocabulary.
VOCABULARY_LENGTHS = (3, 64)


def split_words(text: str) -> list[str]:
    """``dim_customerOrders.v2`` → ``["dim", "customer", "orders", "v2"]``."""
    return [w.lower() for w in _SPLIT.split(text or "") if w]


def _all_words(q: str) -> list[str]:
    words = [w for part in split_words(unicodedata.normalize("NFC", q)) for w in _WORD.findall(part)]
    return list(dict.fromkeys(words))


def query_words(q: str) -> list[str]:
    """The words of a query as both indexes see them: split like names, punctuation dropped, accents
    composed (NFC: an "e" typed with a combining accent finds "é"). At most
    GOUVERNAIL_SEARCH_MAX_WORDS of them (``check_query`` refuses a query with more)."""
    return _all_words(q)[: settings.GOUVERNAIL_SEARCH_MAX_WORDS]


def check_query(q: str) -> None:
    """Refuse a search query longer than GOUVERNAIL_SEARCH_MAX_CHARS characters or with more than
    GOUVERNAIL_SEARCH_MAX_WORDS words: each word is a term of the full-text query (and maybe a typo
    to correct), and the database's work grows with every one and with their length."""
    most_chars, most_words = settings.GOUVERNAIL_SEARCH_MAX_CHARS, settings.GOUVERNAIL_SEARCH_MAX_WORDS
    if len(q) > most_chars:
        raise ValidationError(
            {
                "q": [
                    f"The search is {len(q)} characters long; at most {most_chars} (GOUVERNAIL_SEARCH_MAX_CHARS)."
                ]
            }
        )
    words = len(_all_words(q))
    if words > most_words:
        raise ValidationError(
            {"q": [f"The search has {words} words; at most {most_words} (GOUVERNAIL_SEARCH_MAX_WORDS)."]}
        )


def exact_text(q: str) -> str:
    """The query as an exact (case-insensitive) name: what ``lower(name)`` is compared with."""
    return unicodedata.normalize("NFC", q.strip()).lower()


def search_parts(
    *,
    namespace: str,
    name: str,
    title: str = "",
    description: str = "",
    tags: Iterable[str] = (),
    columns: Iterable[tuple[str, str, Iterable[str]]] = (),
) -> dict[str, str]:
    """The text of each weighted part, from plain values (so bulk loaders can use it without rows).

    ``columns`` holds (name, description, tags) triples.
    """
    col_names: list[str] = []
    col_descriptions: list[str] = []
    for col_name, col_description, col_tags in columns:
        col_names += [" ".join(split_words(col_name)), *col_tags]
        if col_description:
            col_descriptions.append(col_description)
    tags = list(tags)
    return {
        "name": " ".join(split_words(name)),
        "title": title or "",
        "tags": " ".join([*tags, *(w for t in tags for w in split_words(t))]),
        "columns": " ".join(col_names),
        # The namespace is findable, but weakest: every dataset of a lake shares it.
        "description": "\n".join([description or "", *col_descriptions, " ".join(split_words(namespace))]),
    }


def dataset_search_parts(dataset) -> dict[str, str]:
    tags: list[str] = []
    columns: list[tuple[str, str, list[str]]] = []
    if dataset.pk:
        tags = list(dataset.tags.values_list("name", flat=True))
        columns = [(n, d, t or []) for n, d, t in dataset.columns.values_list("name", "description", "tags")]
    return search_parts(
        namespace=dataset.namespace,
        name=dataset.name,
        title=dataset.title,
        description=dataset.description,
        tags=tags,
        columns=columns,
    )


def vocabulary(parts: dict[str, str]) -> set[str]:
    """The words of a dataset's searchable text, as query words are split (for typo correction)."""
    low, high = VOCABULARY_LENGTHS
    return {
        w
        for text in parts.values()
        for part in split_words(text)
        for w in _WORD.findall(part)
        if low <= len(w) <= high and not w.isdigit()
    }


def build_search_text(dataset) -> str:
    """The whole searchable text in one string (kept in ``Dataset.search_text`` for admin and LIKE)."""
    parts = dataset_search_parts(dataset)
    return "\n".join([dataset.name, dataset.namespace, *(parts[p] for p in PARTS if parts[p])])
