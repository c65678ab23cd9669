"""Search queries are bounded: at most GOUVERNAIL_SEARCH_MAX_CHARS characters and
GOUVERNAIL_SEARCH_MAX_WORDS words (a 400 saying so, in the API and on the search page), and only
words of the vocabulary's lengths are corrected as typos.

A 5,000-character word used to cost about 20 s of PostgreSQL CPU (its trigrams compared with the
whole vocabulary), and four such searches at once stalled the API.
"""

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import search, services
from catalog.search_text import VOCABULARY_LENGTHS

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/"


@pytest.fixture
def customers(owner):
    return services.create_dataset(
        actor=owner, namespace="s3://lake", name="dim_customer", description="Every customer we serve."
    )


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


@pytest.mark.parametrize(
    ("q", "status", "limit"),
    [
        ("c" * 600, 200, None),
        ("c" * 601, 400, "GOUVERNAIL_SEARCH_MAX_CHARS"),
        ("x" * 5_000, 400, "GOUVERNAIL_SEARCH_MAX_CHARS"),
        (words(12), 200, None),
        (words(13), 400, "GOUVERNAIL_SEARCH_MAX_WORDS"),
        (" ".join(["same"] * 40), 200, None),  # a word said again is one word
    ],
    ids=["600 chars", "601 chars", "5000 chars", "12 words", "13 words", "one word 40 times"],
)
def test_the_api_refuses_a_query_past_the_limits(api_client_for, outsider, customers, q, status, limit):
    response = api_client_for(outsider).get(URL + "?" + urlencode({"q": q}))
    assert response.status_code == status, response.content[:300]
    if limit:
        assert limit in response.json()["detail"] and "q" in response.json()["errors"]


def test_the_limits_are_settings(settings, api_client_for, outsider, customers):
    settings.GOUVERNAIL_SEARCH_MAX_CHARS, settings.GOUVERNAIL_SEARCH_MAX_WORDS = 10, 2
    client = api_client_for(outsider)
    assert client.get(URL + "?q=customer").json()["count"] == 1
    assert client.get(URL + "?q=customers+x").status_code == 400  # 11 characters
    assert client.get(URL + "?q=a+b+c").status_code == 400  # 3 words


@pytest.mark.parametrize(
    ("q", "limit"),
    [("c" * 601, "GOUVERNAIL_SEARCH_MAX_CHARS"), (words(13), "GOUVERNAIL_SEARCH_MAX_WORDS")],
)
def test_the_search_page_says_why_it_refuses(web, outsider, customers, q, limit):
    client = web(outsider)
    page = client.get("/datasets/?" + urlencode({"q": q}))
    assert page.status_code == 400
    assert limit in page.content.decode()
    sidebar = client.get("/datasets/facets/?" + urlencode({"q": q}))
    assert sidebar.status_code == 400 and limit in sidebar.content.decode()
    assert client.get("/datasets/?q=customer").status_code == 200


def test_only_words_of_vocabulary_length_are_corrected(
    settings, api_client_for, outsider, customers, monkeypatch
):
    settings.GOUVERNAIL_SEARCH_MAX_CHARS = 10_000
    compared: list[str] = []
    closest = search._closest_word

    def spy(word):
        compared.append(word)
        return closest(word)

    monkeypatch.setattr(search, "_closest_word", spy)
    client = api_client_for(outsider)
    found = client.get(URL + "?q=custmer").json()
    assert found["count"] == 1 and compared == ["custmer"]  # a typo is still corrected
    compared.clear()
    longest = VOCABULARY_LENGTHS[1]
    for word in ("q" * (longest + 1), "z" * 5_000):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL + "?" + urlencode({"q": word})).json()["count"] == 0
        assert compared == []
        assert not [q["sql"] for q in queries.captured_queries if "similarity(" in q["sql"]]
