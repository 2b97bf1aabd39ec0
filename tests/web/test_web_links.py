"""Response links: the page in the recipient's language, answers stored once, bad tokens 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.inbound.answers import process_inbound_event
from pipeline.models import Case
from pipeline.privacy.tokens import make_response_token
from pipeline.settings import Settings
from tests.web.support import enqueued, make_case, stored, stub_broker
from web.app import create_app

SECRET = "links-test-secret"
LATER = datetime.now(UTC) + timedelta(days=7)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    stub_broker().flush_all()
    app = create_app(settings=Settings(secret_key=SECRET), engine=engine)
    with TestClient(app, follow_redirects=False) as client:
        yield client
    stub_broker().flush_all()


def token(case_id: int, answer: str = "agree", expires: datetime = LATER) -> str:
    return make_response_token(case_id, answer, expires, secret_key=SECRET)


def test_page_shows_the_notice_and_three_answers(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine)
    response = client.get(f"/r/{token(case_id, 'refuse')}")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert "Kettle recall" in page and "switch can overheat" in page
    for answer in ("agree", "refuse", "query"):
        assert f'name="answer" value="{answer}"' in page
    assert 'class="refuse chosen"' in page  # the answer clicked in the email
    assert "<textarea" in page


def test_page_speaks_the_recipients_language(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine, locale="zh-CN")
    page = client.get(f"/r/{token(case_id)}").text
    assert '<html lang="zh-CN">' in page and "我同意" in page and "截止日期" in page


def test_answer_is_stored_once_and_redirects(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine)
    url = f"/r/{token(case_id)}"
    for _ in range(2):  # a double click
        response = client.post(url, data={"answer": "agree"})
        assert response.status_code == 303
        assert response.headers["location"] == f"{url}?done=agree"
    [event] = stored(engine)
    assert (event.provider, event.kind) == ("link", "link_answer")
    assert event.payload == {"case_id": case_id, "answer": "agree", "text": "", "channel": "email"}
    assert enqueued() == [[event.id]]
    thanks = client.get(response.headers["location"])
    assert thanks.status_code == 200 and "agreement has been recorded" in thanks.text

    # What the worker then does with it (response.process calls exactly this).
    with Session(engine) as session:
        process_inbound_event(session, event.id)
        session.commit()
        assert session.get(Case, case_id).state in ("agreed", "completed")  # type: ignore[union-attr]


def test_a_different_answer_from_the_same_link_is_a_new_answer(
    client: TestClient, engine: Engine
) -> None:
    case_id = make_case(engine)
    url = f"/r/{token(case_id)}"
    client.post(url, data={"answer": "agree"})
    client.post(url, data={"answer": "refuse"})
    assert [e.payload["answer"] for e in stored(engine)] == ["agree", "refuse"]


def test_question_needs_text_and_keeps_it(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine)
    url = f"/r/{token(case_id, 'query')}"
    empty = client.post(url, data={"answer": "query", "text": "   "})
    assert empty.status_code == 400 and "type your question" in empty.text
    assert stored(engine) == []
    asked = client.post(url, data={"answer": "query", "text": "Is model B affected?"})
    assert asked.status_code == 303
    [event] = stored(engine)
    assert event.payload["text"] == "Is model B affected?"


@pytest.mark.parametrize("form", [{}, {"answer": "maybe"}, {"answer": "opt_out"}])
def test_unknown_answer_is_400(client: TestClient, engine: Engine, form: dict[str, str]) -> None:
    case_id = make_case(engine)
    response = client.post(f"/r/{token(case_id)}", data=form)
    assert response.status_code == 400
    assert stored(engine) == []


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        make_response_token(1, "agree", LATER, secret_key="someone-else"),
        token(1)[:-2] + "xx",
    ],
    ids=["garbage", "other-key", "tampered"],
)
def test_invalid_token_is_a_clear_400(client: TestClient, engine: Engine, bad: str) -> None:
    for response in (client.get(f"/r/{bad}"), client.post(f"/r/{bad}", data={"answer": "agree"})):
        assert response.status_code == 400
        assert "This link is not valid" in response.text
    assert stored(engine) == []


def test_expired_token_is_a_clear_410(client: TestClient, engine: Engine) -> None:
    case_id = make_case(engine)
    old = token(case_id, expires=datetime.now(UTC) - timedelta(minutes=1))
    for response in (client.get(f"/r/{old}"), client.post(f"/r/{old}", data={"answer": "agree"})):
        assert response.status_code == 410
        assert "expired" in response.text
    assert stored(engine) == []


def test_link_to_a_deleted_case_is_410(client: TestClient) -> None:
    response = client.get(f"/r/{token(424242)}")
    assert response.status_code == 410


def test_unsubscribe_link_asks_on_get_and_unsubscribes_on_one_click_post(
    client: TestClient, engine: Engine
) -> None:
    case_id = make_case(engine)
    url = f"/r/{token(case_id, 'opt_out')}"
    page = client.get(url)
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert 'value="agree"' not in page.text
    assert stored(engine) == []  # a link scanner's GET changes nothing
    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click to the link.
    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 303
    [event] = stored(engine)
    assert event.payload["answer"] == "opt_out"
    with Session(engine) as session:
        assert process_inbound_event(session, event.id) == []
        session.commit()
        case = session.get(Case, case_id)
        assert case is not None and case.state == "opted_out" and case.recipient.email_opted_out
