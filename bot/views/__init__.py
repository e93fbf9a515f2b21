"""Screens: text and keyboard for each thing the bot shows, apart from the logic that decides it."""
