"""The satisfaction page: a signed link per case, the first score stored (once) and
recorded by the workers, anything else a 4xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.clock import utcnow
from pipeline.inbound.answers import process_inbound_event
from pipeline.models import Case, SatisfactionAnswer
from pipeline.notices.templates import render_followup
from pipeline.satisfaction.ask import ask_satisfaction
from pipeline.satisfaction.links import make_satisfaction_token
from pipeline.settings import Settings, get_settings
from tests.web.support import make_case, stored, stub_broker
from web.app import create_app

SECRET = "satisfaction-test-secret"


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    stub_broker().flush_all()
    app = create_app(settings=Settings(secret_key=SECRET), engine=engine)
    with TestClient(app, follow_redirects=False) as client:
        yield client
    stub_broker().flush_all()


def _asked(engine: Engine) -> int:
    case_id = make_case(engine)
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.state, case.answered_channel = "completed", "sms"
        case.campaign.spec = {"satisfaction": True}
        assert ask_satisfaction(session, case, utcnow()) is not None
        session.commit()
    return case_id


def test_the_question_carries_its_link(engine: Engine) -> None:
    case_id = _asked(engine)
    with Session(engine) as session:
        text = render_followup("satisfaction_question", session.get(Case, case_id))  # type: ignore[arg-type]
    assert "Reply with a number from 1 (not at all) to 5 (very), or answer here: " in text
    base = get_settings().public_url.rstrip("/")
    assert f"{base}/s/{make_satisfaction_token(case_id)}" in text


def test_the_first_score_counts(client: TestClient, engine: Engine) -> None:
    case_id = _asked(engine)
    url = f"/s/{make_satisfaction_token(case_id, secret_key=SECRET)}"
    page = client.get(url)
    assert page.status_code == 200 and page.text.count('name="score"') == 5
    for score in ("4", "1"):  # a second submit is stored once, as the first
        answer = client.post(url, data={"score": score})
        assert answer.status_code == 303 and answer.headers["location"] == f"{url}?done=1"
    [event] = stored(engine)
    assert event.payload == {"case_id": case_id, "score": 4}
    with Session(engine) as session:
        process_inbound_event(session, event.id)
        session.commit()
        row = session.scalars(select(SatisfactionAnswer)).one()
    assert (row.score, row.answered_via) == (4, "link")
    assert "Thank you" in client.get(f"{url}?done=1").text


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(token=st.from_regex(r"[A-Za-z0-9_.~:-]{0,80}", fullmatch=True), score=st.text(max_size=5))
def test_bad_tokens_and_scores_are_4xx(client: TestClient, token: str, score: str) -> None:
    for answer in (client.get(f"/s/{token}"), client.post(f"/s/{token}", data={"score": score})):
        assert 400 <= answer.status_code < 500 or answer.status_code in (200, 303, 307, 308)
    good = f"/s/{make_satisfaction_token(1, secret_key=SECRET)}"
    if score.strip() not in ("1", "2", "3", "4", "5"):
        # 429 once the link rate limit (per client address, as for /r/) is spent.
        assert client.post(good, data={"score": score}).status_code in (400, 429)
