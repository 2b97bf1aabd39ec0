"""The response-link page's words, in every built-in locale (en, zh-CN)."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Please answer this notice",
        "affected": "What is affected",
        "what_to_do": "What to do",
        "deadline": "Deadline",
        "agree": "I agree",
        "refuse": "I do not agree",
        "query": "Send my question",
        "question_label": "Have a question? Type it here:",
        "unsubscribe_prompt": "Stop receiving these emails?",
        "unsubscribe": "Unsubscribe",
        "done_agree": "Thank you. Your agreement has been recorded.",
        "done_refuse": "Your answer has been recorded. We will contact you to understand why.",
        "done_query": "Thank you. Your question has been sent; an agent will answer soon.",
        "done_opt_out": "You are unsubscribed: you will not receive these emails any more.",
        "invalid": "This link is not valid. Please use the link from your message.",
        "expired": "This link has expired. Please reply to the message you received instead.",
        "gone": "This notice is no longer available.",
        "empty_question": "Please choose an answer, or type your question before sending it.",
        "too_many_questions": "You have sent as many questions as we take in a day. "
        "An agent will answer the ones you sent; you can write again tomorrow.",
    },
    "zh-CN": {
        "title": "请回复此通知",
        "affected": "受影响的内容",
        "what_to_do": "您需要做什么",
        "deadline": "截止日期",
        "agree": "我同意",
        "refuse": "我不同意",
        "query": "发送我的问题",
        "question_label": "有疑问？请在此输入：",
        "unsubscribe_prompt": "不再接收此类邮件？",
        "unsubscribe": "退订",
        "done_agree": "谢谢您。您的同意已记录。",
        "done_refuse": "您的回答已记录。我们会联系您了解原因。",
        "done_query": "谢谢您。您的问题已发送，客服会尽快答复。",
        "done_opt_out": "您已退订，将不再收到此类邮件。",
        "invalid": "此链接无效。请使用您收到的消息中的链接。",
        "expired": "此链接已过期。请直接回复您收到的消息。",
        "gone": "此通知已不再可用。",
        "empty_question": "请选择一个回答，或先输入您的问题再发送。",
        "too_many_questions": "您今天发送的问题已达上限。"
        "客服会答复您已发送的问题，明天可再次提问。",
    },
}
