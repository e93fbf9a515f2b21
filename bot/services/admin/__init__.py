"""The admin console's services (handlers in bot/handlers/admin ask for them by name).

bot/app.py `create_dispatcher` builds them, puts them into the workflow data and adds their
scheduler jobs (resume orphaned broadcasts, panel balance check) at the intervals below.
"""

PANEL_CHECK_MINUTES = 5
BROADCAST_RESUME_SECONDS = 60
