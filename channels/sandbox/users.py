"""How the simulated users speak: answers in the language the message was written in."""

from __future__ import annotations

import base64
import json
import re

_HAN = re.compile(r"[\u3400-\u9fff]")

SMS_REPLIES = {
    "en": {
        "agree": "YES",
        "refuse": "NO",
        "query": "Does this apply to the one I bought last year?",
        "stop": "STOP",
        "complain": "I want to make a complaint: this recall is unacceptable.",
    },
    "zh-CN": {
        "agree": "同意",
        "refuse": "不同意",
        "query": "咨询：我去年买的也受影响吗？",
        "stop": "退订",
        "complain": "我要投诉，已经联系了律师。",
    },
}
KEYPRESSES = {"agree": "1", "refuse": "2", "query": "3"}
LINK = re.compile(r"""https?://[^\s"'<>]+/r/([A-Za-z0-9_\-.]+)""")


def language_of(text: str) -> str:
    """zh-CN when the text is written in Chinese characters, else en."""
    return "zh-CN" if _HAN.search(text) else "en"


def sms_reply(answer: str, received: str) -> str:
    return SMS_REPLIES[language_of(received)][answer]


_ASKED_CODE = re.compile(r"(?:add|编号)\s*(\d{2,3})")


def scripted_reply(line: str, received: str) -> str:
    """A scripted line with its reply code filled in: ``{code}`` is the code the received
    notice asks for ("add 42 to your reply"), ``{code:NAME}`` the code the "which recall?"
    message lists for recall NAME ("NAME: reply YES 42")."""
    asked = _ASKED_CODE.search(received)
    line = line.replace("{code}", asked.group(1) if asked else "")
    for name in re.findall(r"\{code:([^}]+)\}", line):
        listed = re.search(re.escape(name) + r"\s*[:：]\s*\D*(\d{2,3})", received)
        line = line.replace(f"{{code:{name}}}", listed.group(1) if listed else "")
    return line


def token_answer(token: str) -> str | None:
    """The answer a response-link token stands for. A person reads it off the button's label;
    the sandbox reads the token's payload (signed, not secret), without checking it."""
    payload = token.split(".", 1)[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(data[1])
    except (ValueError, IndexError, TypeError, KeyError):
        return None


def response_links(html_or_text: str) -> dict[str, str]:
    """{answer: url} for the response links in an email body."""
    links: dict[str, str] = {}
    for match in LINK.finditer(html_or_text):
        answer = token_answer(match.group(1))
        if answer is not None:
            links.setdefault(answer, match.group(0))
    return links
