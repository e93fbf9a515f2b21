"""Every example response of panel-api-v3.txt, served verbatim, parses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.panel import (
    AddOrder,
    CancelRefused,
    OrderNotFound,
    OrderStatus,
    PanelClient,
    RefillRefused,
    RefillState,
    StatusGroup,
)

from .conftest import API_KEY, RawPanel

ADD = """{
  "status": "success",
  "order": 32
}
            """

STATUS = """{
  "order": "32",
  "status": "pending",
  "charge": "0.0360",
  "start_count": "0",
  "remains": "0",
  "currency": "USD"
}
            """

MULTI_STATUS = """  {
      "12": {
          "order": "12",
          "status": "processing",
          "charge": "1.2600",
          "start_count": "0",
          "remains": "0"
      },
      "2": "Incorrect order ID",
      "13": {
          "order": "13",
          "status": "pending",
          "charge": "0.6300",
          "start_count": "0",
          "remains": "0"
      }
  }
            """

SERVICES = """[
    {
        "service": "30",
        "category": "First Cateogry",
        "name": "First Service",
        "description": "First Description",
        "rate": "0.8000",
        "min": "100",
        "max": "2000000",
        "type": "default",
        "dripfeed": "0",
        "refill": "0",
        "cancel": "0",
        "average_time": "0"
    },
    {
        "service": "2",
        "category": "Second Category",
        "name": "Second Service",
        "description": "Second Description",
        "rate": "0.8400",
        "min": "100",
        "max": "100000000",
        "type": "default",
        "dripfeed": "0",
        "refill": "0",
        "cancel": "0",
        "average_time": "0"
    }
]
            """

REFILL = """{
    "success": "Your order will be refill asap. Thank you for patience."
}
            """

REFILL_IN_PROGRESS = """{
    "error": "Refill already in progress"
}
            """

ORDER_NOT_FOUND = """{
    "error": "Order ID not Found"
}
            """

REFILL_STATUS = """{
    "status": "Completed",
}
            """

CANCEL = """{
    "success": "Your order will be cancel asap. Thank you for patience."
}
            """

CANCEL_IN_PROGRESS = """{
    "error": "Cancel request already in progress please wait"
}
            """

BALANCE = """  {
      "status": "success",
      "balance": "0.03",
      "currency": "USD"
  }"""


async def test_add_example(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("add", ADD)
    order_id = await raw_client.add(AddOrder(service_id="30", link="https://x.test/p", quantity=100))
    assert order_id == "32"
    sent = raw_panel.requests[-1]
    assert sent == {
        "key": API_KEY,
        "action": "add",
        "service": "30",
        "link": "https://x.test/p",
        "quantity": "100",
    }


async def test_status_example(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("status", STATUS)
    status = await raw_client.status("32")
    assert status == OrderStatus(
        order_id="32",
        status=StatusGroup.PENDING,
        status_raw="pending",
        charge=Decimal("0.0360"),
        start_count=0,
        remains=0,
        currency="USD",
    )
    assert raw_panel.requests[-1]["order"] == "32"


async def test_multi_status_example(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("status:multi", MULTI_STATUS)
    result = await raw_client.statuses(["12", "2", "13"])
    assert raw_panel.requests[-1]["orders"] == "12,2,13"
    assert list(result) == ["12", "2", "13"]
    twelve = result["12"]
    assert isinstance(twelve, OrderStatus)
    assert twelve.status is StatusGroup.RUNNING
    assert twelve.charge == Decimal("1.2600")
    assert twelve.currency is None
    assert isinstance(result["2"], OrderNotFound)
    assert result["2"].message == "Incorrect order ID"
    thirteen = result["13"]
    assert isinstance(thirteen, OrderStatus)
    assert thirteen.status is StatusGroup.PENDING
    assert thirteen.charge == Decimal("0.6300")


async def test_services_example(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("services", SERVICES)
    services = await raw_client.services()
    assert [s.service_id for s in services] == ["30", "2"]
    first, second = services
    assert first.category == "First Cateogry"
    assert first.name == "First Service"
    assert first.description == "First Description"
    assert first.rate == Decimal("0.8000")
    assert (first.min, first.max) == (100, 2_000_000)
    assert first.type == "default" and first.type_key == "default"
    assert (first.dripfeed, first.refill, first.cancel) == (False, False, False)
    assert first.average_time is None
    assert second.rate == Decimal("0.8400")
    assert second.max == 100_000_000


async def test_refill_example_returns_empty_id(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("refill", REFILL)
    assert await raw_client.refill("32") == ""
    assert raw_panel.requests[-1]["order"] == "32"


@pytest.mark.parametrize(
    ("body", "expected"), [(REFILL_IN_PROGRESS, RefillRefused), (ORDER_NOT_FOUND, OrderNotFound)]
)
async def test_refill_error_examples(
    raw_panel: RawPanel, raw_client: PanelClient, body: str, expected: type[Exception]
) -> None:
    raw_panel.reply("refill", body)
    with pytest.raises(expected):
        await raw_client.refill("32")


async def test_refill_status_example_with_trailing_comma(
    raw_panel: RawPanel, raw_client: PanelClient
) -> None:
    raw_panel.reply("refill_status", REFILL_STATUS)
    refill = await raw_client.refill_status("7")
    assert refill.refill_id == "7"
    assert refill.state is RefillState.COMPLETED
    assert refill.status_raw == "Completed"
    assert raw_panel.requests[-1]["refill"] == "7"
    assert raw_panel.count("refill_status") == 1  # parsed, not treated as garbage and retried


async def test_cancel_example(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("cancel", CANCEL)
    await raw_client.cancel_one("32")  # no exception: accepted
    assert raw_panel.requests[-1]["order"] == "32"


@pytest.mark.parametrize(
    ("body", "expected"), [(CANCEL_IN_PROGRESS, CancelRefused), (ORDER_NOT_FOUND, OrderNotFound)]
)
async def test_cancel_error_examples(
    raw_panel: RawPanel, raw_client: PanelClient, body: str, expected: type[Exception]
) -> None:
    raw_panel.reply("cancel", body)
    with pytest.raises(expected):
        await raw_client.cancel_one("32")
    assert raw_panel.count("cancel") == 1


async def test_balance_example(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("balance", BALANCE)
    balance = await raw_client.balance()
    assert balance.amount == Decimal("0.03")
    assert balance.currency == "USD"
