"""An agent's loop over the REST API: wait for a pending session, take the most urgent one, look up knowledge
and the order backend, answer the customer, record the solution for review, and resolve.

    python examples/agent_workflow.py --agent-id a_lin --agent-name 林 [--wait 30] [--url ...] [--api-key ...]

Prints what it did as one JSON object on its last line; exits 1 when nothing was pending in time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from larkdesk_client import ApiError, LarkdeskClient


def take_most_urgent(client: LarkdeskClient, agent_id: str, agent_name: str, wait_s: float) -> dict | None:
    """Poll the queue (highest priority first); when another agent wins a claim, try the next one."""
    deadline = time.monotonic() + wait_s
    while True:
        for item in client.pending():
            try:
                return client.accept(item["session_id"], agent_id, agent_name)
            except ApiError as exc:
                if exc.status != 409:  # 409: someone else was faster
                    raise
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def last_customer_message(session: dict) -> str:
    said = [h["content"] for h in session.get("history", []) if h.get("role") == "user"]
    return said[-1] if said else session.get("summary", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent-id", default="agent_demo")
    parser.add_argument("--agent-name", default="Demo agent")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a pending session")
    parser.add_argument("--url", default=os.environ.get("LARKDESK_URL", "http://localhost:8000"))
    parser.add_argument("--api-key", default=os.environ.get("LARKDESK_API_KEY"))
    args = parser.parse_args(argv)

    with LarkdeskClient(args.url, args.api_key) as client:
        claimed = take_most_urgent(client, args.agent_id, args.agent_name, args.wait)
        if claimed is None:
            print(json.dumps({"claimed": None}))
            return 1
        sid = claimed["session_id"]
        session = client.session(sid)
        question = last_customer_message(session)
        passages = client.recommend(sid, question, top_k=3)
        order = client.business_assist(sid, question)
        if order["scene"] == "order_status":
            reply = order["reply"]
        elif passages:
            reply = passages[0]["content"]
        else:
            reply = "您好，我是人工客服，已收到您的问题，正在为您核实处理。"
        delivery = client.send(sid, reply, agent_id=args.agent_id)
        solution = client.solution(sid, question, reply, intent=session.get("intent") or None)
        resolved = client.resolve(sid, note="answered by agent_workflow.py", agent_id=args.agent_id)
        print(json.dumps({"claimed": sid, "priority": claimed["priority"], "question": question,
                          "passages": len(passages), "business_scene": order["scene"], "reply": reply,
                          "pushed": delivery["pushed"], "review_id": solution["review_id"],
                          "state": resolved["state"]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
