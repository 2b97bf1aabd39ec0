"""The provider sandbox: a local stand-in for Twilio and SendGrid, and for their users.

``create_sandbox_app(config)`` (``server.py``) builds the ASGI app; ``SandboxThread``
(``runner.py``) runs it on a free port in the background; ``recall sandbox`` runs it as a
process. See ``config.py`` for every knob and ``docs`` in ``recall sandbox --help``.
"""
