"""DELETE /api/v1/customers/{customer_id}: erase what larkdesk keeps about a customer (desk/privacy.py)."""

from __future__ import annotations

from aiohttp import web

from bot.rest.errors import ApiError
from bot.rest.models import ForgetResult
from bot.rest.spec import Operation, dump
from bot.services import Services
from desk.privacy import forget_customer


class PrivacyRoutes:
    def __init__(self, services: Services) -> None:
        self.desk = services.desk

    async def forget(self, request: web.Request) -> web.Response:
        customer_id = request.match_info["customer_id"]
        report = await forget_customer(customer_id, self.desk.sessions, self.desk.traces, erasers=self.desk.erasers)
        if report.failed:  # never report a half-forgotten customer as forgotten
            raise ApiError(503, "erase_incomplete", "some stores could not erase this customer; retry",
                           erased=report.erased, failed=report.failed)
        return dump(ForgetResult, {"customer_id": customer_id, "sessions": len(report.session_ids),
                                   "erased": report.erased})

    def operations(self) -> list[Operation]:
        return [
            Operation("DELETE", "/api/v1/customers/{customer_id}", self.forget,
                      "Erase a customer's sessions, history, traces and learned phrasings", "privacy", ForgetResult,
                      description="The customer id is the one sessions were created with (a Feishu open_id, or "
                                  "the user_id a web or app channel sent). Idempotent: erasing an unknown or "
                                  "already erased customer answers 200 with zero counts. 503 when a store "
                                  "could not erase (details say which): retry."),
        ]
