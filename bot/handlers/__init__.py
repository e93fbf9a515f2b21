"""Feature routers, one module each; `bot.routers.feature_routers` puts them in order."""
