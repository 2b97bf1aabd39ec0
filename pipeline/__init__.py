"""recall's domain core: settings, storage, the case state machine and campaign logic.

Nothing in this package imports Dramatiq or an HTTP framework; actors and the web app
call into it.
"""
