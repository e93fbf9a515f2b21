"""Conversation states (kept in the FSM storage, so they survive restarts)."""

from aiogram.fsm.state import State, StatesGroup


class OrderForm(StatesGroup):
    filling = State()
    confirming = State()


class SearchForm(StatesGroup):
    query = State()
